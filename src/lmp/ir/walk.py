"""The direct sub-expressions of an IR expression, for the passes that look inside expressions."""

from __future__ import annotations

from lmp.ir import nodes as ir


def children(e: ir.Expr) -> list[ir.Expr]:
    """`e`'s operands in source order (a call's function first); a name or a literal has none."""
    if isinstance(e, ir.Call):
        return [e.func, *e.args, *(k.value for k in e.kwargs)]
    if isinstance(e, ir.Attribute):
        return [e.obj]
    if isinstance(e, ir.Index):
        return [e.obj, e.index]
    if isinstance(e, ir.BinOp | ir.Compare | ir.BoolOp):
        return [e.left, e.right]
    if isinstance(e, ir.Not | ir.Neg):
        return [e.operand]
    if isinstance(e, ir.ListExpr):
        return list(e.items)
    if isinstance(e, ir.RecordExpr):
        return [f.value for f in e.fields]
    return []
