"""ir.walk.children: every operand of every expression kind, in source order."""

from __future__ import annotations

from lmp.ir import nodes as ir
from lmp.ir.walk import children
from lmp.project import load_text


def _expr(source: str) -> ir.Expr:
    text = f"module M(a: list[str], b: int) -> (x: any) {{\n  x = {source}\n  return (x: x)\n}}\n"
    loaded = load_text(text, "/tmp/walk.lmp")
    stmt = loaded.program.modules["M"].body[0]
    return stmt.value


def _render(e: ir.Expr) -> str:
    if isinstance(e, ir.Name):
        return e.id
    if isinstance(e, ir.Literal):
        return repr(e.value)
    return type(e).__name__


def test_children_of_each_kind_in_source_order():
    cases = {
        'len(a, sep: "x")': ["len", "a", "'x'"],
        "a[b]": ["a", "b"],
        "b + 1": ["b", "1"],
        'a contains "z"': ["a", "'z'"],
        "not b": ["b"],
        "-b": ["b"],
        "[b, 2]": ["b", "2"],
        "(p: b, q: a)": ["b", "a"],
        "a.count": ["a"],
        "b": [],
    }
    for source, expected in cases.items():
        assert [_render(c) for c in children(_expr(source))] == expected, source
