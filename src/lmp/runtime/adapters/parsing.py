"""Turning model text into typed values, robustly.

Small models wrap answers in quotes, markdown, code fences or a trailing sentence; the parser
accepts those where the intent is unambiguous and rejects everything else with a message the
model can act on in the repair attempt.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from lmp.ir.types import (
    AnyType,
    DictType,
    ListType,
    LiteralType,
    NoneType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
)
from lmp.runtime.values import python_type, wrap

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_NULLS = {"", "none", "null", "n/a", "nil"}
_TRUE = {"true", "yes", "y", "1", "correct"}
_FALSE = {"false", "no", "n", "0", "incorrect"}


class ValueParseError(ValueError):
    pass


def strip_wrappers(text: str) -> str:
    """Remove code fences, surrounding quotes/backticks and markdown emphasis."""
    text = text.strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1).strip()
    for _ in range(3):
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`*_":
            text = text[1:-1].strip()
        elif text.startswith("**") and text.endswith("**") and len(text) > 4:
            text = text[2:-2].strip()
        else:
            break
    return text


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def normalize_literal(text: str, t: LiteralType) -> str:
    """Match a literal member case- and whitespace-insensitively; then, if exactly one member
    occurs in the text (e.g. "The answer is Politics and Governance."), take it."""
    candidates = [strip_wrappers(text), strip_wrappers(text).rstrip(".!;:"),
                  strip_wrappers(text.strip().splitlines()[0] if text.strip() else "").rstrip(".!;:")]
    by_norm = {_norm(m): m for m in t.members}
    for c in candidates:
        hit = by_norm.get(_norm(strip_wrappers(c)))
        if hit is not None:
            return hit
    lowered = _norm(text)
    found = [m for m in t.members if re.search(r"(?<!\w)" + re.escape(_norm(m)) + r"(?!\w)", lowered)]
    # Prefer the longest when one member contains another ("Economic" vs "Economic Events").
    found = [m for m in found if not any(m != o and _norm(m) in _norm(o) for o in found)]
    if len(found) == 1:
        return found[0]
    raise ValueParseError(
        f"{text.strip()[:80]!r} is not one of the allowed values: " + ", ".join(json.dumps(m) for m in t.members)
    )


def parse_number(text: str, integer: bool) -> int | float:
    stripped = strip_wrappers(text)
    matches = _NUMBER.findall(stripped)
    if not matches:
        raise ValueParseError(f"expected a single {'integer' if integer else 'number'}, got {stripped[:80]!r}")
    raw = matches[0].replace(",", "")
    value = float(raw)
    if stripped.endswith("%") and len(matches) == 1 and not integer:
        value = value / 100.0
    if integer:
        if value != int(value):
            raise ValueParseError(f"expected an integer, got {raw}")
        return int(value)
    return value


def parse_bool(text: str) -> bool:
    word = strip_wrappers(text).strip().rstrip(".!").lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    first = word.split()[0] if word.split() else ""
    first = first.strip(".,;:!")
    if first in _TRUE:
        return True
    if first in _FALSE:
        return False
    raise ValueParseError(f"expected true or false, got {word[:80]!r}")


def load_structured(text: str) -> Any:
    """JSON (or a Python literal) from text, tolerating fences and prose around one object/array."""
    body = strip_wrappers(text) if text.strip().startswith("```") else text.strip()
    for attempt in (body, _outermost(body)):
        if attempt is None:
            continue
        try:
            return json.loads(attempt)
        except ValueError:
            pass
        try:
            return ast.literal_eval(attempt)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    raise ValueParseError(f"expected JSON, got {text.strip()[:120]!r}")


def _outermost(text: str) -> str | None:
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    close = "}" if text[start] == "{" else "]"
    end = text.rfind(close)
    return text[start : end + 1] if end > start else None


def parse_text(text: str, t: Type) -> Any:
    """Parse one output section's text into a value of type `t`."""
    if isinstance(t, OptionalType):
        if strip_wrappers(text).lower() in _NULLS:
            return None
        return parse_text(text, t.inner)
    if isinstance(t, AnyType):
        try:
            return load_structured(text)
        except ValueParseError:
            return text.strip()
    if isinstance(t, PrimType):
        if t.name == "str":
            return text.strip()
        if t.name == "int":
            return parse_number(text, integer=True)
        if t.name == "float":
            return parse_number(text, integer=False)
        return parse_bool(text)
    if isinstance(t, LiteralType):
        return normalize_literal(text, t)
    if isinstance(t, NoneType):
        return None
    try:
        data = load_structured(text)
    except ValueParseError:
        if isinstance(t, ListType) and isinstance(t.item, PrimType | LiteralType):
            # A bulleted or numbered list is an unambiguous list of scalars.
            lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)]|\[\d+\])\s*", "", ln).strip() for ln in text.splitlines()]
            data = [ln for ln in lines if ln]
        else:
            raise
    return coerce(data, t)


def coerce(value: Any, t: Type, path: str = "") -> Any:
    """Normalize already-structured data (from JSON) to type `t`, then validate it with pydantic
    and jsonschema; returns run-time values (Records for record types)."""
    normalized = _normalize(value, t, path)
    _validate(normalized, t)
    return wrap(normalized, t)


def _normalize(value: Any, t: Type, path: str) -> Any:
    where = f" at `{path}`" if path else ""
    if isinstance(t, OptionalType):
        if value is None or (isinstance(value, str) and value.strip().lower() in _NULLS):
            return None
        return _normalize(value, t.inner, path)
    if isinstance(t, LiteralType):
        if not isinstance(value, str):
            value = str(value)
        try:
            return normalize_literal(value, t)
        except ValueParseError as exc:
            raise ValueParseError(f"{exc}{where}") from None
    if isinstance(t, PrimType):
        if t.name == "str":
            return value if isinstance(value, str) else (json.dumps(value) if isinstance(value, list | dict) else str(value))
        if t.name in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                if isinstance(value, str):
                    return parse_number(value, integer=t.name == "int")
                raise ValueParseError(f"expected a number{where}, got {json.dumps(value)[:60]}")
            if t.name == "int" and isinstance(value, float) and value == int(value):
                return int(value)
            return float(value) if t.name == "float" else value
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return parse_bool(value)
        raise ValueParseError(f"expected true or false{where}")
    if isinstance(t, ListType):
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ValueParseError(f"expected a JSON array{where}, got {json.dumps(value, default=str)[:60]}")
        return [_normalize(v, t.item, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(t, DictType):
        if not isinstance(value, dict):
            raise ValueParseError(f"expected a JSON object{where}")
        return {str(k): _normalize(v, t.value, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(t, RecordType):
        if not isinstance(value, dict):
            raise ValueParseError(f"expected a JSON object with fields {', '.join(f.name for f in t.fields)}{where}")
        out: dict[str, Any] = {}
        for f in t.fields:
            sub = f"{path}.{f.name}" if path else f.name
            if f.name not in value:
                if isinstance(f.type, OptionalType):
                    out[f.name] = None
                    continue
                raise ValueParseError(f"missing field `{sub}`")
            out[f.name] = _normalize(value[f.name], f.type, sub)
        return out
    return value


def _validate(value: Any, t: Type) -> None:
    if not isinstance(t, ListType | DictType | RecordType | OptionalType):
        return
    import jsonschema
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(python_type(t)).validate_python(value, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ValueParseError(f"{first['msg']}" + (f" at `{loc}`" if loc else "")) from None
    try:
        jsonschema.validate(value, t.json_schema())
    except jsonschema.ValidationError as exc:
        loc = ".".join(str(x) for x in exc.absolute_path)
        raise ValueParseError(exc.message + (f" at `{loc}`" if loc else "")) from None
