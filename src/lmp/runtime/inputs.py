"""Inputs from the command line and JSONL rows, converted to the module's declared types."""

from __future__ import annotations

import json
from typing import Any

from lmp.ir.nodes import Module
from lmp.ir.types import LiteralType, OptionalType, PrimType, Type, strip_optional
from lmp.runtime.adapters.parsing import ValueParseError, parse_text
from lmp.runtime.errors import LmpRuntimeError


def parse_cli_value(text: str, t: Type) -> Any:
    """`-i k=v`: strings stay as typed; other types accept JSON (or the forgiving output parser)."""
    inner = strip_optional(t)
    if isinstance(t, OptionalType) and text.strip().lower() in ("none", "null"):
        return None
    if isinstance(inner, PrimType) and inner.name == "str" or isinstance(inner, LiteralType):
        return text
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return parse_text(text, t)
    except ValueParseError as exc:
        raise LmpRuntimeError(f"cannot read {text!r} as {t.render()}: {exc}") from None


def parse_assignments(pairs: list[str], module: Module | None, params: dict[str, Type] | None = None) -> dict[str, Any]:
    """`["question=Why?", "k=3"]` -> typed values by the module's parameter types."""
    types = dict(params or {})
    if module is not None:
        types.update({p.name: p.type for p in module.params})
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise LmpRuntimeError(f"-i expects field=value, got {pair!r} (e.g. -i question=\"What is BM25?\")")
        key, value = pair.split("=", 1)
        key = key.strip()
        t = types.get(key)
        out[key] = parse_cli_value(value, t) if t is not None else value
    return out
