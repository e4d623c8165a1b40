"""Lowering of `test` blocks: `test NAME for TARGET { field: value ... expect EXPR ... check EXPR }`.

Only what the block itself tells is reported here (a test name or an input given twice); whether the
target, the inputs and the expectations fit the program is the checker's job (lmp.checker.tests_blocks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lark import Tree

from lmp.diagnostics import Diagnostic
from lmp.ir import nodes as ir

if TYPE_CHECKING:
    from lmp.ir.lower import Lowering


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
