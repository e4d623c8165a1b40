"""Run-time values: records and predictions, and conversions between IR types and Python.

`.lmp` values are plain Python values (str, int, float, bool, None, list, dict) plus `Record`
for record-typed values, so that `pred.answer` and `citation.title` work in programs and in Python.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, Optional

from lmp.ir.types import (
    AnyType,
    DictType,
    ListType,
    LiteralType,
    MediaType,
    NoneType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
    python_value_matches,
)


class Record:
    """A record value with attribute access (`r.title`), item access and `model_dump()`."""

    __slots__ = ("_data", "_type_name")

    def __init__(self, data: dict[str, Any] | None = None, type_name: str | None = None, **fields: Any) -> None:
        object.__setattr__(self, "_data", {**(data or {}), **fields})
        object.__setattr__(self, "_type_name", type_name)

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "_data")
        if name in data:
            return data[name]
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{type(self).__name__} has no field `{name}`; its fields are: {', '.join(data) or '(none)'}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} values are immutable")

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self):  # noqa: ANN204 - iterate field names like a mapping
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> list[str]:
        return list(self._data)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data.items())

    def get(self, name: str, default: Any = None) -> Any:
        return self._data.get(name, default)

    def model_dump(self) -> dict[str, Any]:
        return {k: to_plain(v) for k, v in self._data.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return self.model_dump() == other.model_dump()
        if isinstance(other, dict):
            return self.model_dump() == to_plain(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"{self._type_name or type(self).__name__}({inner})"


class Prediction(Record):
    """The outputs of a predictor or module call. Extra fields such as ChainOfThought's
    `reasoning` or ReAct's `trajectory` are attributes too, but only declared outputs flow on."""

    __slots__ = ()


def to_plain(value: Any) -> Any:
    """Records -> dicts, recursively (for JSON output and `model_dump`)."""
    if isinstance(value, Record):
        return value.model_dump()
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def wrap(value: Any, t: Type) -> Any:
    """Plain JSON-like data of type `t` -> run-time values (dicts of record types become Records)."""
    if value is None:
        return None
    if isinstance(t, OptionalType):
        return wrap(value, t.inner)
    if isinstance(t, RecordType) and isinstance(value, dict):
        return Record({f.name: wrap(value.get(f.name), f.type) for f in t.fields}, t.name)
    if isinstance(t, ListType) and isinstance(value, list):
        return [wrap(v, t.item) for v in value]
    if isinstance(t, DictType) and isinstance(value, dict):
        return {k: wrap(v, t.value) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=1024)
def python_type(t: Type) -> Any:
    """The Python/pydantic annotation for an IR type (records become pydantic models)."""
    from pydantic import create_model

    if isinstance(t, PrimType):
        return {"str": str, "int": int, "float": float, "bool": bool}[t.name]
    if isinstance(t, LiteralType):
        return Literal[t.members]  # type: ignore[valid-type]
    if isinstance(t, ListType):
        return list[python_type(t.item)]  # type: ignore[misc]
    if isinstance(t, DictType):
        return dict[str, python_type(t.value)]  # type: ignore[misc]
    if isinstance(t, OptionalType):
        return Optional[python_type(t.inner)]  # noqa: UP045 - built dynamically
    if isinstance(t, RecordType):
        fields: dict[str, Any] = {}
        for f in t.fields:
            ann = python_type(f.type)
            fields[f.name] = (ann, None) if isinstance(f.type, OptionalType) else (ann, ...)
        return create_model(t.name or "Record", **fields)  # type: ignore[call-overload]
    if isinstance(t, NoneType):
        return type(None)
    return Any


def matches(value: Any, t: Type) -> bool:
    """Run-time type check that understands Records (and ints where floats are expected)."""
    return python_value_matches(to_plain(value) if isinstance(value, Record | list | dict) else value, t)


def describe(value: Any) -> str:
    """A short type-ish description of a value for error messages."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Record):
        return value._type_name or "record"
    if isinstance(value, list):
        inner = {describe(v) for v in value[:5]}
        return f"list[{inner.pop()}]" if len(inner) == 1 else "list"
    return type(value).__name__


def check_value(value: Any, t: Type) -> Any:
    """Return `value` converted where harmless (int -> float) if it matches `t`, else raise TypeError."""
    if isinstance(t, AnyType):
        return value
    if isinstance(t, PrimType) and t.name == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(t, OptionalType):
        return None if value is None else check_value(value, t.inner)
    if isinstance(t, MediaType):
        from lmp.runtime.media import as_image  # an ImageError is a TypeError: reported with the field

        return as_image(value)
    if isinstance(t, ListType) and isinstance(value, list) and isinstance(t.item, MediaType | OptionalType):
        return [check_value(v, t.item) for v in value]  # list[Image]: each item loaded
    if isinstance(t, RecordType) and isinstance(value, dict):
        value = wrap(value, t)
    if not matches(value, t):
        raise TypeError(f"expected {t.render()}, got {describe(value)} {_short(value)}")
    if isinstance(t, ListType) and isinstance(value, list):
        return [check_value(v, t.item) for v in value]
    return value


def _short(value: Any) -> str:
    text = repr(to_plain(value))
    return text if len(text) <= 80 else text[:80] + "…"
