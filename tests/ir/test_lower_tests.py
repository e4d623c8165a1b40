"""Lowering `test` blocks to TestBlock/Expectation, the `contains` operator, and the labels a test states."""

from __future__ import annotations

from lmp.ir import nodes as ir
from lmp.ir.lower_tests import equality_labels
from lmp.project import load_text

TEXT = '''signature S {
  in  q: str
  out a: str
  out n: int
}

test first for S {  # a comment
  q: "hello", expect a == "x"
  check n >= 2 and a contains "x"
  check "y" == result.a
  expect n == 1 + 1
}
'''


def test_a_test_block_lowers_to_inputs_and_expectations() -> None:
    program = load_text(TEXT, "/tmp/s.lmp").program
    [t] = program.tests
    assert t in program.decls
    assert (t.name, t.target, t.path) == ("first", "S", "/tmp/s.lmp")
    assert TEXT[t.target_span.start:t.target_span.end] == "S"
    assert [(kv.name, kv.value.value) for kv in t.inputs] == [("q", "hello")]  # type: ignore[attr-defined]
    assert [e.kind for e in t.expectations] == ["expect", "check", "check", "expect"]
    assert [e.hard for e in t.expectations] == [True, False, False, True]
    # An expectation's span covers its keyword: the editor marks the whole line.
    assert [TEXT[e.span.start:e.span.end] for e in t.expectations] == [
        'expect a == "x"', 'check n >= 2 and a contains "x"', 'check "y" == result.a', "expect n == 1 + 1"]
    both = t.expectations[1].expr
    assert isinstance(both, ir.BoolOp) and isinstance(both.right, ir.Compare) and both.right.op == "contains"


def test_labels_come_from_equalities_with_a_constant() -> None:
    [t] = load_text(TEXT, "/tmp/s.lmp").program.tests
    # `a == "x"` first wins over `"y" == result.a`; `n == 1 + 1` is not a constant.
    assert equality_labels(t, ["a", "n"]) == {"a": "x"}
    assert equality_labels(t, ["n"]) == {}


def test_contains_binds_like_in() -> None:
    text = 'module M(a: str) -> (x: bool) {\n  return (x: a + "b" contains "c" and true)\n}\n'
    ret = load_text(text, check=False).program.modules["M"].body[0]
    assert isinstance(ret, ir.Return) and isinstance(ret.value, ir.RecordExpr)
    e = ret.value.fields[0].value
    assert isinstance(e, ir.BoolOp) and isinstance(e.left, ir.Compare) and e.left.op == "contains"
    assert isinstance(e.left.left, ir.BinOp)


def test_contains_is_still_a_name_where_a_value_is_expected() -> None:
    text = 'module M(contains: str) -> (x: bool) {\n  return (x: contains contains "c")\n}\n'
    loaded = load_text(text)
    assert loaded.diagnostics == []
