"""Functions every `.lmp` program can call without declaring them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.predictors import majority
from lmp.runtime.values import Record, to_plain


def _range(*args: int) -> list[int]:
    return list(range(*args))


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, Record | list | dict):
        return json.dumps(to_plain(value), ensure_ascii=False)
    return str(value)


def _join(items: list[Any], sep: str = "\n") -> str:
    return sep.join(_str(i) for i in items)


def _print(*values: Any) -> None:
    # stderr: stdout belongs to the program's result (`lmp run --json` pipes it).
    print(*(_str(v) for v in values), file=sys.stderr)


def _int(value: Any) -> int:
    try:
        return int(float(value)) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise LmpRuntimeError(f"int(): cannot convert {value!r} to an integer") from None


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LmpRuntimeError(f"float(): cannot convert {value!r} to a number") from None


def _unique(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for item in items:
        # By value, so records and dicts (unhashable) dedupe too.
        key = json.dumps(to_plain(item), sort_keys=True, ensure_ascii=False, default=str)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _concat(lists: list[list[Any]]) -> list[Any]:
    out: list[Any] = []
    for part in lists:
        if not isinstance(part, list):
            raise LmpRuntimeError(f"concat(): expected a list of lists, found {_str(part)[:60]!r}")
        out.extend(part)
    return out


def _keys(d: Any) -> list[Any]:
    if isinstance(d, Record):
        return list(to_plain(d))
    if not isinstance(d, dict):
        raise LmpRuntimeError(f"keys(): expected a dict, got {type(d).__name__}")
    return list(d)


def _image(source: Any) -> Any:
    from lmp.runtime.media import ImageError, as_image

    try:
        return as_image(source)
    except ImageError as exc:
        raise LmpRuntimeError(f"image(): {exc}") from None


def _parallel(*_: Any, **__: Any) -> Any:
    # The interpreter evaluates parallel(fn, items) itself (lmp.runtime.parallel): its first argument
    # names a callee, which is not a value that could be passed here.
    raise LmpRuntimeError("parallel(fn, items) takes the name of a predictor, module or tool as `fn`")


BUILTINS: dict[str, Callable[..., Any]] = {
    "range": _range,
    "len": len,
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": bool,
    "majority": majority,
    "join": _join,
    "concat": _concat,
    "keys": _keys,
    "unique": _unique,
    "min": min,
    "max": max,
    "sum": sum,
    "abs": abs,
    "round": round,
    "print": _print,
    "image": _image,
    "parallel": _parallel,
}
