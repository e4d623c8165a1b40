"""Inputs from the command line, converted to the module's declared types.

`-i field=value` is read by the field's declared type and nothing else: strings as typed, literal
unions against their members, ints, floats and bools strictly, lists, dicts and records as JSON that
must match the type. A value that does not fit is an error naming the field, the type and the raw
text; it is never turned into something else (`a,b` is not a one-item list).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from lmp.ir.nodes import Module
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
    strip_optional,
)
from lmp.runtime.errors import LmpRuntimeError

_INT = re.compile(r"[+-]?\d+")
# JSON's number syntax plus a leading `+` or `.`: what a person types for a float. Not Python's
# float(): that also takes "nan", "inf" and "1_000".
_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class InputValueError(LmpRuntimeError):
    """A command-line input that does not fit its declared type (a usage error)."""

    user_facing = True


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """` (did you mean `x`?)` for the closest choice, or ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _example(t: Type) -> str:
    t = strip_optional(t)
    if isinstance(t, ListType):
        return f"[{_example(t.item)}]"
    if isinstance(t, DictType):
        return '{"key": ' + _example(t.value) + "}"
    if isinstance(t, RecordType):
        return "{" + ", ".join(f'"{f.name}": {_example(f.type)}' for f in t.fields) + "}"
    if isinstance(t, LiteralType):
        return json.dumps(t.members[0]) if t.members else '""'
    if isinstance(t, PrimType):
        return {"str": '"text"', "int": "3", "float": "0.5", "bool": "true"}[t.name]
    return "null"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def mismatch(value: Any, t: Type, path: str) -> str | None:
    """Where a decoded JSON value first departs from `t` (e.g. `pt.y: missing`), or None if it fits."""
    if isinstance(t, AnyType):
        return None
    if isinstance(t, OptionalType):
        return None if value is None else mismatch(value, t.inner, path)
    if isinstance(t, NoneType):
        return None if value is None else f"{path}: expected null, got {_describe(value)}"
    if isinstance(t, PrimType):
        ok = {"str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool)}[t.name](value)
        return None if ok else f"{path}: expected {t.name}, got {_describe(value)} {_clip(json.dumps(value))}"
    if isinstance(t, LiteralType):
        if isinstance(value, str) and value in t.members:
            return None
        hint = did_you_mean(value, t.members) if isinstance(value, str) else ""
        return f"{path}: expected one of {t.render_members()}, got {_clip(json.dumps(value))}{hint}"
    if isinstance(t, ListType):
        if not isinstance(value, list):
            return f"{path}: expected a list, got {_describe(value)}"
        for i, item in enumerate(value):
            found = mismatch(item, t.item, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(t, DictType):
        if not isinstance(value, dict):
            return f"{path}: expected an object, got {_describe(value)}"
        for k, v in value.items():
            found = mismatch(v, t.value, f"{path}[{json.dumps(k)}]")
            if found:
                return found
        return None
    if isinstance(t, RecordType):
        if not isinstance(value, dict):
            return f"{path}: expected an object with {', '.join(f.name for f in t.fields)}, got {_describe(value)}"
        names = [f.name for f in t.fields]
        extra = [k for k in value if k not in names]
        if extra:
            return (f"{path}: unknown key {', '.join(f'`{k}`' for k in extra)}{did_you_mean(extra[0], names)}; "
                    f"{t.render()} has {', '.join(names)}")
        for f in t.fields:
            if f.name not in value:
                if isinstance(f.type, OptionalType):
                    continue
                return f"{path}.{f.name}: missing ({f.type.render()})"
            found = mismatch(value[f.name], f.type, f"{path}.{f.name}")
            if found:
                return found
        return None
    return None


def parse_cli_value(text: str, t: Type, name: str = "value") -> Any:
    """`-i name=text` read as type `t`; InputValueError when it does not fit."""
    inner = strip_optional(t)
    raw = _clip(repr(text))
    if isinstance(t, OptionalType) and text.strip() in ("null", "none", "None"):
        return None
    if isinstance(inner, AnyType):
        try:
            return json.loads(text)
        except ValueError:
            return text
    if isinstance(inner, PrimType) and inner.name == "str":
        return text
    if isinstance(inner, MediaType):
        from lmp.runtime.media import ImageError, as_image

        try:  # a path (relative to the working directory), an http(s) URL or a data: URI
            return as_image(text)
        except ImageError as exc:
            raise InputValueError(f"-i {name}: {exc}") from None
    if isinstance(inner, LiteralType):
        if text in inner.members:
            return text
        kind = f"{inner.name}: " if inner.name else ""
        raise InputValueError(f"-i {name}: {raw} is not {kind}one of {inner.render_members()}"
                              f"{did_you_mean(text, inner.members)}")
    if isinstance(inner, PrimType):
        s = text.strip()
        if inner.name == "int" and _INT.fullmatch(s):
            return int(s)
        if inner.name == "float" and _FLOAT.fullmatch(s):
            return float(s)
        if inner.name == "bool" and s.lower() in ("true", "false"):
            return s.lower() == "true"
        expected = {"int": "a whole number, e.g. 3", "float": "a number, e.g. 0.5",
                    "bool": "true or false"}[inner.name]
        raise InputValueError(f"-i {name}: expected {inner.name} ({expected}), got {raw}")
    # Lists, dicts and records: JSON, checked against the type.
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputValueError(
            f"-i {name}: expected {t.render()} as JSON, e.g. -i {name}='{_example(t)}'; got {raw}, which is not "
            f"valid JSON ({exc.msg} at column {exc.colno})") from None
    problem = mismatch(value, t, name)
    if problem:
        raise InputValueError(f"-i {name}: {raw} does not match {t.render()}: {problem}")
    return value


def parse_assignments(pairs: list[str], module: Module | None, params: dict[str, Type] | None = None) -> dict[str, Any]:
    """`["question=Why?", "k=3"]` -> typed values by the module's parameter types (or `params`)."""
    types = dict(params or {})
    if module is not None:
        types.update({p.name: p.type for p in module.params})
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputValueError(f"-i expects field=value, got {pair!r} (e.g. -i question=\"What is BM25?\")")
        key, value = pair.split("=", 1)
        key = key.strip()
        t = types.get(key)
        if t is None:
            if module is None and not types:
                out[key] = value
                continue
            owner = f"{module.name} has" if module is not None else "it has"
            raise InputValueError(f"-i {key}: no input `{key}`{did_you_mean(key, list(types))}; {owner} "
                                  f"{', '.join(f'{k}: {v.render()}' for k, v in types.items()) or 'no inputs'}")
        if key in out:
            raise InputValueError(f"-i {key}: given twice")
        out[key] = parse_cli_value(value, t, key)
    return out
