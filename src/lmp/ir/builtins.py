"""Built-in functions callable from module bodies: their static types, shared by the checker
(typing) and the interpreter (which implements them in lmp.runtime)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lmp.ir.types import ANY, BOOL, FLOAT, IMAGE, INT, NONE, STR, AnyType, DictType, ListType, Type


@dataclass(frozen=True)
class Builtin:
    """A built-in function: its arity, keyword arguments, documentation and result type."""

    name: str
    min_args: int
    max_args: int
    doc: str
    result: Callable[[list[Type]], Type]
    kwargs: tuple[str, ...] = ()


_MANY = 64  # "any number of arguments"


def _numeric(types: list[Type]) -> Type:
    """min/max/sum/abs: the element type of one list argument, else the common type of the arguments."""
    if len(types) == 1 and isinstance(types[0], ListType):
        types = [types[0].item]
    if any(isinstance(t, AnyType) for t in types):
        return ANY
    if types and all(t == types[0] for t in types):
        return types[0]
    if all(t in (INT, FLOAT) for t in types):
        return FLOAT
    return ANY


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
        Builtin("unique", 1, 1, "unique(items): the list without repeats, first occurrences in order "
                "(e.g. passages retrieved twice over several hops)", lambda ts: ts[0] if ts else ListType(ANY)),
        Builtin("min", 1, _MANY, "min(items) or min(a, b, ...): the smallest value", _numeric),
        Builtin("max", 1, _MANY, "max(items) or max(a, b, ...): the largest value", _numeric),
        Builtin("sum", 1, 1, "sum(numbers): the total of a list of numbers", _numeric),
        Builtin("abs", 1, 1, "abs(x): the absolute value of a number", _numeric),
        Builtin("round", 1, 2, "round(x) -> int, round(x, digits) -> float",
                lambda ts: INT if len(ts) == 1 else FLOAT),
        Builtin("parallel", 2, 2, "parallel(fn, items, max: 8, errors: \"raise\"|\"keep\"): run a predictor, module "
                "or tool over a list concurrently (at most `max` at once); the results in input order",
                lambda _: ListType(ANY), ("max", "errors")),
        Builtin("image", 1, 1, "image(source): an Image from a path (relative to the working directory), an "
                "http(s) URL or a data: URI", lambda _: IMAGE),
        Builtin("print", 0, _MANY, "print(values...): write the values to stderr (for debugging; stdout holds "
                "the result)", lambda _: NONE),
    ]
}
