from __future__ import annotations

from lmp.ir import nodes as ir
from lmp.ir.types import INT, STR, ListType, LiteralType, OptionalType, RecordType
from lmp.project import load_text


def shape(e: ir.Expr) -> str:
    if isinstance(e, (ir.BinOp, ir.Compare, ir.BoolOp)):
        return f"({shape(e.left)} {e.op} {shape(e.right)})"
    if isinstance(e, ir.Not):
        return f"(not {shape(e.operand)})"
    if isinstance(e, ir.Neg):
        return f"(-{shape(e.operand)})"
    if isinstance(e, ir.Name):
        return e.id
    if isinstance(e, ir.Literal):
        return repr(e.value)
    return type(e).__name__


def returned(expr: str) -> ir.Expr:
    text = f"module M(a: int, b: int, c: bool) -> (x: bool) {{\n  return (x: {expr})\n}}\n"
    ret = load_text(text, check=False).program.modules["M"].body[0]
    assert isinstance(ret, ir.Return) and isinstance(ret.value, ir.RecordExpr)
    return ret.value.fields[0].value


def test_operator_precedence_follows_python() -> None:
    assert shape(returned("a + b * 2 > 3 and not c or b == 1")) == "((((a + (b * 2)) > 3) and (not c)) or (b == 1))"
    assert shape(returned("not a == b")) == "(not (a == b))"
    assert shape(returned("(not c) == c")) == "((not c) == c)"
    assert shape(returned("a - b - 1")) == "((a - b) - 1)"
    assert shape(returned("-a * b")) == "((-a) * b)"
    assert shape(returned("a not in [1]")) == "(a not in ListExpr)"


def test_types_resolve_across_declarations_in_any_order() -> None:
    program = load_text(
        'signature S {\n  in x: Item\n  out y: Label?\n}\n'
        'type Item = { name: str "the name"\n  tags: list[str] }\n'
        'type Label = "a" | "b"\n', check=False).program
    sig = program.signatures["S"]
    item = sig.inputs[0].type
    assert isinstance(item, RecordType) and item.name == "Item"
    assert item.field("name") is not None and item.field("name").description == "the name"
    assert item.field("tags").type == ListType(STR)
    assert sig.outputs[0].type == OptionalType(LiteralType(("a", "b"), "Label"))


def test_inline_signatures_have_spans_inside_the_string() -> None:
    text = 'signature Q = "context: list[int], question -> answer"\n'
    sig = load_text(text, check=False).program.signatures["Q"]
    assert [f.name for f in sig.inputs] == ["context", "question"]
    assert sig.inputs[0].type == ListType(INT)
    assert sig.outputs[0].type == STR
    span = sig.inputs[1].span
    assert text[span.start:span.end] == "question"
    assert (span.line, span.col) == (0, text.index("question"))


def test_predictors_get_stable_ids_and_roles() -> None:
    program = load_text(
        'model judge = "openai/gpt-4o"\nsignature S = "q -> a"\n'
        "module Pipe(q: str) -> (a: str) {\n  let first = Predict(S)\n"
        '  let second = ChainOfThought("a -> b") using judge\n  r = first(q: q)\n'
        "  s = second(a: r.a)\n  return (a: s.b)\n}\n", check=False).program
    preds = program.predictors()
    assert list(preds) == ["Pipe.first", "Pipe.second"]
    assert preds["Pipe.second"].kind == "ChainOfThought"
    assert preds["Pipe.second"].model_role == "judge"
    assert preds["Pipe.first"].signature is program.signatures["S"]


def test_loading_a_program_leaves_no_garbage_cycles():
    # Parse trees and the IR are acyclic, so the language server can pause the collector while it builds
    # them and free everything by reference counting; lowering `a op b op c` once made two closures per
    # expression that referred to each other (~1,000 cycles per 2,000 lines).
    import gc

    from lmp.project import load_text

    text = "\n".join(f"module M{i}(a: int, b: int) -> (c: bool) {{\n  return (c: not a + b * 2 > 3 and a < b or b == 1)\n}}"
                     for i in range(50))
    load_text(text, "/tmp/cycles.lmp")
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        loaded = load_text(text, "/tmp/cycles.lmp")
        assert not [d for d in loaded.diagnostics if d.severity.value == "error"]
        del loaded
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()
