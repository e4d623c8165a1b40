"""Lowering of `test` blocks: `test NAME for TARGET { field: value ... expect EXPR ... check EXPR }`.

Only what the block itself tells is reported here (a test name or an input given twice); whether the
target, the inputs and the expectations fit the program is the checker's job (lmp.checker.tests_blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lmp.diagnostics import Diagnostic
from lmp.ir import nodes as ir
from lmp.syntax.tree import Tree

if TYPE_CHECKING:
    from lmp.ir.lower import Lowering

# Names an expectation may use besides the target's output fields (lmp.runtime.testing binds them).
SPECIAL_NAMES = ("result", "example", "latency_ms")


def lower_test(lowering: Lowering, t: Tree) -> ir.TestBlock:
    from lmp.ir.lower import ir_related, span_of

    name_tok, target_tok = t.children[0], t.children[1]
    test = ir.TestBlock(str(name_tok), str(target_tok), span=span_of(t), name_span=span_of(name_tok),
                        target_span=span_of(target_tok))
    test.syntax_error = lowering._has_syntax_error(test.span)
    items = next((c for c in t.children[2:] if isinstance(c, Tree) and c.data == "test_items"), None)
    seen: set[str] = set()
    for item in items.children if items is not None else []:
        if item.data == "kwarg":
            arg = lowering.kwarg(item)
            if arg.name in seen:
                lowering.error("E021", f"`{arg.name}` is given twice", arg.span)
                continue
            seen.add(arg.name)
            test.inputs.append(arg)
        elif item.data in ("test_expect", "test_check"):
            kind = "expect" if item.data == "test_expect" else "check"
            test.expectations.append(ir.Expectation(kind, lowering.expr(item.children[0]), span_of(item)))
    previous = next((x for x in lowering.program.tests if x.name == test.name), None)
    if previous is not None:
        lowering.diagnostics.append(Diagnostic(
            "E020", f"test `{test.name}` is already defined", test.name_span, path=lowering.path,
            hint="give each test of a file its own name", related=[ir_related(previous, "first defined here")]))
    else:
        lowering.program.tests.append(test)
    lowering.program.decls.append(test)
    return test


def _output_of(expr: ir.Expr, outputs: set[str]) -> str | None:
    """`category` or `result.category`, naming an output field."""
    if isinstance(expr, ir.Name) and expr.id in outputs:
        return expr.id
    if (isinstance(expr, ir.Attribute) and isinstance(expr.obj, ir.Name) and expr.obj.id == "result"
            and "result" not in outputs and expr.name in outputs):
        return expr.name
    return None


def equality_labels(block: ir.TestBlock, outputs: Sequence[str]) -> dict[str, Any]:
    """Gold values a test states: each `expect|check FIELD == CONSTANT` (either side, FIELD an output
    name or `result.FIELD`), the whole expression being that one equality. The first one per field wins."""
    names = set(outputs)
    labels: dict[str, Any] = {}
    for e in block.expectations:
        x = e.expr
        if not (isinstance(x, ir.Compare) and x.op == "=="):
            continue
        for side, other in ((x.left, x.right), (x.right, x.left)):
            name = _output_of(side, names)
            if name is None or name in labels:
                continue
            try:
                from lmp.ir.lower import constant

                labels[name] = constant(other)
            except ValueError:
                continue
            break
    return labels
