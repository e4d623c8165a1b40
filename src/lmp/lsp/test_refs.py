"""The language server's index of a `test` block: its target and inputs resolve like an example's, the output
names of its expectations (`category`, `result.category`) to the target's output fields, and the metrics and
modules it calls to their declarations (hover, go to definition, references, rename highlight)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmp.ir import nodes as ir
from lmp.ir.walk import children

if TYPE_CHECKING:
    from lmp.lsp.index import FileIndex


def index_test(index: FileIndex, test: ir.TestBlock) -> None:
    from lmp.lsp.index import field_key

    index._example(ir.Example(test.name, test.target, test.inputs, target_span=test.target_span))
    prog = index.program
    mod = prog.modules.get(test.target)
    sig = prog.signatures.get(test.target) if mod is None else None
    for e in test.expectations:
        index._expr(e.expr, None)
        for node in _output_refs(e.expr):
            name, span = (node.id, node.span) if isinstance(node, ir.Name) else (node.name, node.name_span)
            if mod is not None and not mod.is_metric:
                f = next((f for f in mod.outputs if f.name == name), None)
                if f is not None:
                    index.add(span, ("mout", mod.path or index.path, mod.name, name), "output", False, (mod, f))
            elif sig is not None:
                f = next((f for f in sig.outputs if f.name == name), None)
                if f is not None:
                    index.add(span, field_key(sig, name, index.path), "field", False, (sig, f))


def _output_refs(expr: ir.Expr) -> list[ir.Name | ir.Attribute]:
    """Bare names and `result.NAME` attributes in an expectation (candidates for output fields)."""
    out: list[ir.Name | ir.Attribute] = []
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, ir.Name):
            out.append(e)
        elif isinstance(e, ir.Attribute) and isinstance(e.obj, ir.Name) and e.obj.id == "result":
            out.append(e)
        elif isinstance(e, ir.Call):
            stack.extend(children(e)[1:])  # the callee is a metric or builtin, not an output
        else:
            stack.extend(children(e))
    return out
