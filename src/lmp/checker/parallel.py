"""Typing of the built-in `parallel(fn, items, max: 8, errors: "raise")`: `fn` names a predictor of
the module, a module, a tool or a retriever; `items` is a list whose elements are the callee's
inputs (records naming them, or plain values for a callee with one input); the result is a list of
the callee's results in input order (`T?` items with `errors: "keep"`). Mistakes are E093."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lmp.diagnostics import Fix, suggest
from lmp.ir import nodes as ir
from lmp.ir.types import (
    ANY,
    INT,
    STR,
    AnyType,
    DictType,
    ListType,
    LiteralType,
    OptionalType,
    RecordField,
    RecordType,
    Type,
    is_assignable,
    strip_optional,
)

if TYPE_CHECKING:
    from lmp.checker.checker import Checker, Scope

CODE = "E093"
USAGE = 'parallel(fn, items, max: 8, errors: "raise" | "keep")'
ERRORS = LiteralType(("raise", "keep"))


@dataclass
class Callee:
    """What `parallel` calls on each item: a predictor, module or tool, with its inputs and result."""

    label: str  # "predictor `classify`"
    inputs: list[tuple[str, Type, bool]]  # (name, type, required)
    result: Type


def check_parallel(ck: Checker, e: ir.Call, scope: Scope) -> Type:
    keep = False
    for k in e.kwargs:
        t = ck.expr(k.value, scope)
        if k.name == "max":
            if not is_assignable(t, INT):
                ck.report(CODE, f"`max` of parallel is the number of items run at once (`int`), not `{t.render()}`",
                          k.value.span, hint="e.g. `max: 8`")
            elif isinstance(k.value, ir.Literal) and isinstance(k.value.value, int) and k.value.value < 1:
                ck.report(CODE, "`max` of parallel must be at least 1", k.value.span, hint="e.g. `max: 8`")
        elif k.name == "errors":
            if isinstance(k.value, ir.Literal) and k.value.value in ERRORS.members:
                keep = k.value.value == "keep"
            else:
                ck.report(CODE, '`errors` of parallel is "raise" or "keep"', k.value.span,
                          hint='"raise" (default): the first failing item\'s error stops the call; "keep": a '
                          "failed item's result is `none`")
        else:
            guess = suggest(k.name, ["max", "errors"])
            ck.report(CODE, f"`parallel` has no argument `{k.name}`", k.span,
                      hint=(f"did you mean `{guess}`? " if guess else "") + USAGE,
                      fixes=[Fix(f"Change to `{guess}`", k.span, guess)] if guess else None)
    if len(e.args) != 2:
        for a in e.args[1:]:
            ck.expr(a, scope)
        ck.report(CODE, f"`parallel` takes a callee and a list of items, got {len(e.args)} positional argument(s)",
                  e.span, hint=f"{USAGE}, e.g. `parallel(classify, events, max: 8)`")
        return ListType(ANY)
    fn, items = e.args
    callee = _callee(ck, fn, scope)
    items_t = strip_optional(ck.expr(items, scope))
    if callee is None:
        return ListType(ANY)
    result = OptionalType(callee.result) if keep and not isinstance(callee.result, AnyType | OptionalType) \
        else callee.result
    if isinstance(items_t, AnyType):
        return ListType(result)
    if not isinstance(items_t, ListType):
        ck.report(CODE, f"`parallel` runs {callee.label} over a list, not `{items_t.render()}`", items.span,
                  hint=f"pass a list of its inputs, e.g. `{_example(fn, callee)}`")
        return ListType(result)
    _check_element(ck, fn, callee, items_t.item, items)
    return ListType(result)


def _callee(ck: Checker, fn: ir.Expr, scope: Scope) -> Callee | None:
    ck.typed(fn, ANY)
    if not isinstance(fn, ir.Name):
        ck.expr(fn, scope)
        ck.report(CODE, "the first argument of `parallel` is the name of a predictor, module or tool", fn.span,
                  hint=f"{USAGE}, e.g. `parallel(classify, events)`")
        return None
    name = fn.id
    prog = ck.program
    if name in scope.vars:
        scope.vars[name].used = True
        ck.report(CODE, f"`{name}` is a variable; `parallel` runs a predictor, module or tool", fn.span,
                  hint=f"{USAGE}, e.g. `parallel(classify, {name})` to run `classify` over `{name}`")
        return None
    mod = ck.module
    pred = mod.predictor(name) if mod is not None else None
    if pred is not None:
        ck.used_predictors.add(name)
        from lmp.checker.checker import prediction_type  # noqa: I001 - a cycle at import time

        sig = pred.signature
        if sig is None or sig.syntax_error:
            return None
        inputs = [(f.name, f.type, f.default is None and not isinstance(f.type, OptionalType)) for f in sig.inputs]
        return Callee(f"predictor `{name}`", inputs, prediction_type(pred))
    if name in prog.modules and not prog.modules[name].is_metric:
        target = prog.modules[name]
        return Callee(f"module `{name}`", _params(target.params),
                      RecordType(tuple(RecordField(f.name, f.type, f.description) for f in target.outputs), name))
    if name in prog.tools:
        tool = prog.tools[name]
        return Callee(f"tool `{name}`", _params(tool.params), tool.returns)
    if name in prog.retrievers:
        return Callee(f"retriever `{name}`", [("query", STR, True), ("k", INT, False)], ListType(STR))
    candidates = [p.name for p in mod.predictors] if mod is not None else []
    candidates += [n for n, m in prog.modules.items() if not m.is_metric] + list(prog.tools) + list(prog.retrievers)
    guess = suggest(name, candidates)
    what = "a metric" if name in prog.modules else "a signature (declare a predictor with `let`)" \
        if name in prog.signatures else "not a predictor, module or tool"
    ck.report(CODE, f"`parallel` cannot run `{name}`: it is {what}", fn.span,
              hint=f"did you mean `{guess}`?" if guess else f"{USAGE}; run a predictor of this module, a module "
              "or a tool", fixes=[Fix(f"Change to `{guess}`", fn.span, guess)] if guess else None)
    return None


def _params(params: list[ir.Param]) -> list[tuple[str, Type, bool]]:
    return [(p.name, p.type, p.default is None and not isinstance(p.type, OptionalType)) for p in params]


def _example(fn: ir.Expr, callee: Callee) -> str:
    name = fn.id if isinstance(fn, ir.Name) else "fn"
    if len(callee.inputs) == 1:
        return f"parallel({name}, [x, y])"
    fields = ", ".join(f"{n}: ..." for n, _, _ in callee.inputs)
    return f"parallel({name}, [({fields}), ...])"


def _check_element(ck: Checker, fn: ir.Expr, callee: Callee, elem: Type, items: ir.Expr) -> None:
    elem = strip_optional(elem) if not isinstance(elem, OptionalType) else elem
    if isinstance(elem, AnyType | DictType):
        return
    by_name = {n: (t, req) for n, t, req in callee.inputs}
    names = ", ".join(f"`{n}: {t.render()}`" for n, t, _ in callee.inputs) or "no inputs"
    if isinstance(elem, RecordType) and not _single_record_input(callee, elem):
        given = set()
        for f in elem.fields:
            want = by_name.get(f.name)
            if want is None:
                guess = suggest(f.name, [n for n in by_name if n not in {x.name for x in elem.fields}])
                ck.report(CODE, f"the items have a field `{f.name}`, which {callee.label} does not take", items.span,
                          hint=f"did you mean `{guess}`?" if guess else f"its inputs: {names}")
                if guess:
                    given.add(guess)
                continue
            given.add(f.name)
            if not is_assignable(f.type, want[0]):
                ck.report(CODE, f"input `{f.name}` of {callee.label} is `{want[0].render()}`, but the items' "
                          f"`{f.name}` is `{widen(f.type).render()}`", items.span, hint=ck.literal_hint(want[0]))
        missing = [n for n, (_, req) in by_name.items() if req and n not in given]
        if missing:
            ck.report(CODE, f"the items lack input {', '.join(f'`{m}`' for m in missing)} of {callee.label}",
                      items.span, hint=f"give each item every input, e.g. `{_example(fn, callee)}`")
        return
    required = [n for n, _, req in callee.inputs if req]
    if len(callee.inputs) == 1 or len(required) == 1:
        target = callee.inputs[0] if len(callee.inputs) == 1 else next(i for i in callee.inputs if i[2])
        if not is_assignable(elem, target[1]):
            hint = ck.literal_hint(target[1]) or (
                "convert each item first, e.g. with str(...)" if target[1] == STR else
                f"pass a list of `{target[1].render()}` values")
            ck.report(CODE, f"{callee.label} takes `{target[0]}: {target[1].render()}`, but the items are "
                      f"`{widen(elem).render()}`", items.span, hint=hint)
        return
    ck.report(CODE, f"{callee.label} takes several inputs ({names}); the items are `{widen(elem).render()}`",
              items.span,
              hint=f"pass a list of records naming them, e.g. `{_example(fn, callee)}`")


def widen(t: Type) -> Type:
    from lmp.checker.checker import widen as widen_

    return widen_(t)


def _single_record_input(callee: Callee, elem: RecordType) -> bool:
    """A callee whose one input is itself a record: the items are those records, not input records."""
    return len(callee.inputs) == 1 and isinstance(strip_optional(callee.inputs[0][1]), RecordType) and \
        callee.inputs[0][0] not in {f.name for f in elem.fields}
