"""The type model of `.lmp` values: what fields, variables and expressions can hold."""

from __future__ import annotations

import dataclasses
import reprlib
from dataclasses import dataclass
from typing import Any


@reprlib.recursive_repr()
def dataclass_repr(obj: Any) -> str:
    """What a dataclass's own repr shows (`ListType(item=PrimType(name='str'))`). The IR's dataclasses
    are declared with repr=False and share this one: dataclasses compiles a repr per class at import
    (~0.1 ms each, ~5 ms for the IR's 51 classes, paid by every `lmp check`)."""
    shown = ", ".join(f"{f.name}={getattr(obj, f.name)!r}" for f in dataclasses.fields(obj) if f.repr)
    return f"{type(obj).__qualname__}({shown})"


class Type:
    """Base of all types. Types are immutable and compare structurally."""

    __repr__ = dataclass_repr

    def render(self) -> str:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True, repr=False)
class PrimType(Type):
    """`str`, `int`, `float` or `bool`."""

    name: str  # str | int | float | bool

    def render(self) -> str:
        return self.name

    def json_schema(self) -> dict[str, Any]:
        return {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
                "bool": {"type": "boolean"}}[self.name]


STR = PrimType("str")
INT = PrimType("int")
FLOAT = PrimType("float")
BOOL = PrimType("bool")
PRIMITIVES = {"str": STR, "int": INT, "float": FLOAT, "bool": BOOL}


@dataclass(frozen=True, slots=True, repr=False)
class ListType(Type):
    """`list[T]`."""

    item: Type

    def render(self) -> str:
        return f"list[{self.item.render()}]"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.json_schema()}


@dataclass(frozen=True, slots=True, repr=False)
class DictType(Type):
    """`dict[K, V]`."""

    key: Type
    value: Type

    def render(self) -> str:
        return f"dict[{self.key.render()}, {self.value.render()}]"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": self.value.json_schema()}


@dataclass(frozen=True, slots=True, repr=False)
class OptionalType(Type):
    """`T?`: a `T` or none."""

    inner: Type

    def render(self) -> str:
        return f"{self.inner.render()}?"

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [self.inner.json_schema(), {"type": "null"}]}


@dataclass(frozen=True, slots=True, repr=False)
class LiteralType(Type):
    """A union of string literals, e.g. `"yes" | "no"`; `name` is the declared type name if any."""

    members: tuple[str, ...]
    name: str | None = None

    def render(self) -> str:
        return self.name or " | ".join(_quote(m) for m in self.members)

    def render_members(self) -> str:
        return " | ".join(_quote(m) for m in self.members)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.members)}


@dataclass(frozen=True, slots=True, repr=False)
class RecordField:
    """One field of a record type: its name, type and description (the text after the type)."""

    __repr__ = dataclass_repr

    name: str
    type: Type
    description: str | None = None


@dataclass(frozen=True, slots=True, repr=False)
class RecordType(Type):
    """A record: a declared `type X = {...}`, a predictor's outputs, or a module's outputs."""

    fields: tuple[RecordField, ...]
    name: str | None = None

    def field(self, name: str) -> RecordField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def render(self) -> str:
        if self.name:
            return self.name
        return "(" + ", ".join(f"{f.name}: {f.type.render()}" for f in self.fields) + ")"

    def json_schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for f in self.fields:
            schema = dict(f.type.json_schema())
            if f.description:
                schema["description"] = f.description
            props[f.name] = schema
        required = [f.name for f in self.fields if not isinstance(f.type, OptionalType)]
        out: dict[str, Any] = {"type": "object", "properties": props, "required": required,
                               "additionalProperties": False}
        if self.name:
            out["title"] = self.name
        return out


@dataclass(frozen=True, slots=True, repr=False)
class AnyType(Type):
    """A value whose type is not known statically (metric parameters, tool results without a
    declared type). Also used after an error so that one mistake is reported once."""

    def render(self) -> str:
        return "any"

    def json_schema(self) -> dict[str, Any]:
        return {}


ANY = AnyType()


@dataclass(frozen=True, slots=True, repr=False)
class NoneType(Type):
    """The type of `none`."""

    def render(self) -> str:
        return "none"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "null"}


NONE = NoneType()


@dataclass(frozen=True, slots=True, repr=False)
class MediaType(Type):
    """A media value sent to the model as a content part, not as text: `Image` (an input only;
    models cannot write one). Run-time values are `lmp.runtime.media.Image`."""

    name: str  # "Image"

    def render(self) -> str:
        return self.name

    def json_schema(self) -> dict[str, Any]:
        # Over HTTP an image is a string: an http(s) URL or a data: URI (`lmp serve` refuses file paths).
        return {"type": "string", "description": "image: an http(s) URL or a data:image/...;base64 URI"}


IMAGE = MediaType("Image")


@dataclass(frozen=True, slots=True, repr=False)
class HistoryType(ListType):
    """`History`: prior turns of a conversation, rendered as earlier user/assistant messages before
    the current one. A list whose items are `{role, content}` records or records of the signature's
    own fields (see docs/language.md#history); loops, `len` and `+` treat it as a list."""

    def render(self) -> str:
        return "History"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "object"}, "description": "prior conversation turns"}


HISTORY = HistoryType(AnyType())
# Built-in type names beyond the primitives; a program's own `type Image = ...` takes precedence.
SPECIAL_TYPES: dict[str, Type] = {"Image": IMAGE, "History": HISTORY}


def is_turn_list(t: Type) -> bool:
    """Whether values of `t` can be a `History`: a list of records or dicts (or of unknown items)."""
    if isinstance(t, HistoryType):
        return True
    return isinstance(t, ListType) and isinstance(t.item, RecordType | DictType | AnyType)


def contains_media(t: Type, history: bool = True) -> bool:
    """Whether `t` holds an `Image` (or, with `history`, a `History`) anywhere: a model writes neither."""
    t = strip_optional(t)
    if isinstance(t, MediaType) or history and isinstance(t, HistoryType):
        return True
    if isinstance(t, HistoryType):
        return False
    if isinstance(t, ListType):
        return contains_media(t.item, history)
    if isinstance(t, DictType):
        return contains_media(t.value, history)
    if isinstance(t, RecordType):
        return any(contains_media(f.type, history) for f in t.fields)
    return False


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strip_optional(t: Type) -> Type:
    return t.inner if isinstance(t, OptionalType) else t


def is_assignable(src: Type, dst: Type) -> bool:
    """Whether a value of type `src` may flow where `dst` is expected."""
    if isinstance(src, AnyType) or isinstance(dst, AnyType):
        return True
    if src == dst:
        return True
    if isinstance(dst, OptionalType):
        return isinstance(src, NoneType) or is_assignable(src, dst.inner)
    if isinstance(src, OptionalType):
        return False
    if isinstance(dst, PrimType):
        if dst.name == "str":
            return isinstance(src, LiteralType) or src == STR
        if dst.name == "float":
            return src in (INT, FLOAT)
        return src == dst
    if isinstance(dst, LiteralType):
        return isinstance(src, LiteralType) and set(src.members) <= set(dst.members)
    if isinstance(dst, HistoryType):
        return is_turn_list(src)
    if isinstance(dst, ListType):
        return isinstance(src, ListType) and is_assignable(src.item, dst.item)
    if isinstance(dst, DictType):
        return isinstance(src, DictType) and is_assignable(src.key, dst.key) and is_assignable(
            src.value, dst.value)
    if isinstance(dst, RecordType):
        if not isinstance(src, RecordType):
            return False
        for f in dst.fields:
            sf = src.field(f.name)
            if sf is None:
                if not isinstance(f.type, OptionalType):
                    return False
            elif not is_assignable(sf.type, f.type):
                return False
        return True
    return False


def join(a: Type, b: Type) -> Type:
    """The type of a variable that may hold either `a` or `b` (branches, loop iterations)."""
    if is_assignable(a, b):
        return b
    if is_assignable(b, a):
        return a
    if isinstance(a, LiteralType) and isinstance(b, LiteralType):
        return LiteralType(tuple(dict.fromkeys(a.members + b.members)))
    if isinstance(a, NoneType):
        return OptionalType(b)
    if isinstance(b, NoneType):
        return OptionalType(a)
    if {type(a), type(b)} <= {PrimType, LiteralType} and STR in (a, b) or (
        isinstance(a, LiteralType) and isinstance(b, LiteralType)
    ):
        return STR
    return ANY


def python_value_matches(value: Any, t: Type) -> bool:
    """Run-time check of a Python value against a type (used on tool results and model outputs)."""
    if isinstance(t, AnyType):
        return True
    if isinstance(t, OptionalType):
        return value is None or python_value_matches(value, t.inner)
    if isinstance(t, NoneType):
        return value is None
    if isinstance(t, PrimType):
        if t.name == "str":
            return isinstance(value, str)
        if t.name == "bool":
            return isinstance(value, bool)
        if t.name == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(t, LiteralType):
        return isinstance(value, str) and value in t.members
    if isinstance(t, MediaType):
        # Duck-typed: the run-time class lives in lmp.runtime.media, above this layer.
        return getattr(value, "lmp_media", None) == t.name
    if isinstance(t, HistoryType):
        return isinstance(value, list) and all(isinstance(v, dict) or hasattr(v, "keys") for v in value)
    if isinstance(t, ListType):
        return isinstance(value, list) and all(python_value_matches(v, t.item) for v in value)
    if isinstance(t, DictType):
        return isinstance(value, dict) and all(python_value_matches(v, t.value) for v in value.values())
    if isinstance(t, RecordType):
        getter = value.get if isinstance(value, dict) else (lambda k, d=None: getattr(value, k, d))
        return all(
            python_value_matches(getter(f.name, None), f.type) for f in t.fields
        )
    return False
