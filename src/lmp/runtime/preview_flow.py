"""Which inputs of an inner predictor are only known at run time (the preview must not invent them).

A module's `example` gives the module's inputs; a predictor inside the module is called with values
its body computes first: `context = wiki(question)` then `answer(context: context, ...)` (the RAG
shape). Taking `context` from the example by name would show the caller's value (often `[]`) where the
run sends retrieved passages. Without running anything (opening a file never runs retrievers or user
code), this reads the first call of the predictor in its module: an argument that is a module
parameter the body never reassigns comes from the example as before; a literal is that literal; any
other argument is "filled at run time", described by the statement that computes it.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from lmp.ir import nodes as ir


def _children(node: Any) -> list[Any]:
    out: list[Any] = []
    if not is_dataclass(node):
        return out
    for f in fields(node):
        if f.name in ("span", "predictor"):
            continue
        v = getattr(node, f.name, None)
        if isinstance(v, list):
            out.extend(x for x in v if is_dataclass(x))
        elif is_dataclass(v) and isinstance(v, (ir.Expr, ir.Stmt, ir.KwArg, ir.IfBranch)):
            out.append(v)
    return out


def _walk(body: list[ir.Stmt]) -> list[Any]:
    """Every statement and expression of a body, in source order."""
    todo: list[Any] = list(reversed(body))
    out: list[Any] = []
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(reversed(_children(node)))
    return out


def _first_call(module: ir.Module, name: str) -> ir.Call | None:
    for node in _walk(module.body):
        if isinstance(node, ir.Call) and isinstance(node.func, ir.Name) and node.func.id == name:
            return node
    return None


def _source(text: str, span: Any) -> str:
    if text and span.end > span.start:
        return " ".join(text[span.start:span.end].split())
    return ""


def runtime_inputs(program: ir.Program, pred: ir.Predictor) -> tuple[dict[str, str], dict[str, Any]]:
    """({input field: how the run computes it}, {input field: literal value}) for `pred`'s first call."""
    module = program.modules.get(pred.owner)
    sig = pred.signature
    if module is None or sig is None:
        return {}, {}
    call = _first_call(module, pred.name)
    if call is None:
        return {}, {}
    text = program.text if module.path in (None, program.path) else ""
    nodes = _walk(module.body)
    assigned: dict[str, list[ir.Stmt]] = {}
    for node in nodes:
        if isinstance(node, (ir.Assign, ir.AugAssign)):
            assigned.setdefault(node.target, []).append(node)
        elif isinstance(node, ir.For):
            assigned.setdefault(node.var, []).append(node)
    params = {p.name for p in module.params}
    given: list[tuple[str, ir.Expr]] = [(kw.name, kw.value) for kw in call.kwargs]
    given += [(f.name, e) for f, e in zip(sig.inputs, call.args, strict=False)]
    computed: dict[str, str] = {}
    literals: dict[str, Any] = {}
    for field_name, expr in given:
        if sig.field(field_name) is None:
            continue
        if isinstance(expr, ir.Literal):
            literals[field_name] = expr.value
            continue
        if isinstance(expr, ir.Name) and expr.id in params and expr.id not in assigned:
            continue  # the module's own input, unchanged: the example's value is the run's value
        how = _source(text, expr.span)
        if isinstance(expr, ir.Name):
            before = [s for s in assigned.get(expr.id, []) if s.span.start < call.span.start]
            if before:
                how = _source(text, before[-1].span) or how
        computed[field_name] = how or f"computed in `{module.name}`"
    return computed, literals


def placeholder(how: str) -> str:
    return f"<filled at run time: {how}>"
