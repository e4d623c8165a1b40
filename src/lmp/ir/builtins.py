"""Built-in functions callable from module bodies: their static types, shared by the checker
(typing) and the interpreter (which implements them in lmp.runtime)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lmp.ir.types import ANY, BOOL, FLOAT, INT, STR, AnyType, DictType, ListType, Type


@dataclass(frozen=True)
class Builtin:
    name: str
    min_args: int
    max_args: int
    doc: str
    result: Callable[[list[Type]], Type]
    kwargs: tuple[str, ...] = ()


def _item(types: list[Type]) -> Type:
    t = types[0] if types else ANY
    if isinstance(t, ListType):
        return t.item
    return ANY


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in [
        Builtin("range", 1, 2, "range(n) or range(start, stop): the integers as a list", lambda _: ListType(INT)),
        Builtin("len", 1, 1, "len(x): the number of items in a list, dict or string", lambda _: INT),
        Builtin("str", 1, 1, "str(x): x as text (lists and records as JSON)", lambda _: STR),
        Builtin("int", 1, 1, "int(x): x as an integer", lambda _: INT),
        Builtin("float", 1, 1, "float(x): x as a number", lambda _: FLOAT),
        Builtin("bool", 1, 1, "bool(x): whether x is non-empty / non-zero", lambda _: BOOL),
        Builtin("majority", 1, 1,
                "majority(values, field: \"name\"): the most common value (or the prediction whose field is most common)",
                _item, ("field",)),
        Builtin("join", 1, 2, "join(items, sep): the strings of a list joined with sep (default newline)",
                lambda _: STR),
        Builtin("concat", 1, 1, "concat(lists): one list made of a list of lists",
                lambda ts: ts[0].item if ts and isinstance(ts[0], ListType) and isinstance(
                    ts[0].item, (ListType, AnyType)) else ListType(ANY)),
        Builtin("keys", 1, 1, "keys(d): the keys of a dict",
                lambda ts: ListType(STR) if ts and isinstance(ts[0], DictType) else ListType(ANY)),
    ]
}
