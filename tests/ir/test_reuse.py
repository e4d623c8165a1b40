"""Reusing unchanged modules' IR between lowerings (lmp.ir.reuse, used by the language server) gives the
same IR and diagnostics as lowering everything again, edit after edit."""

from __future__ import annotations

import pytest

from lmp.ir import lower as lowering
from lmp.ir.reuse import ModuleReuse, self_test, summary
from lmp.syntax.parser import parse

BASE = '''\
type Category = "a" | "b"

signature S {
  in  text: str
  out label: Category
}

tool search(q: str) -> list[str] = "rag.search:search"

module A(text: str) -> (label: Category) {
  let p = Predict(S)
  r = p(text: text)
  return (label: r.label)
}

module B(text: str, n: int = 2) -> (label: Category) {
  let p = ChainOfThought("text: str -> label: Category")
  hits = search(q: text)
  for h in hits {
    x: int = n + 1
  }
  r = p(text: text)
  return (label: r.label)
}

metric M(example: S, pred: S) -> float {
  if pred.label == example.label {
    return 1.0
  }
  return 0.0
}

module C(text: str) -> (label: Category) {
  let p = Predict(S)
  return p(text: text)
}
'''

EDITS = [
    BASE,
    BASE.replace("  r = p(text: text)\n  return (label: r.label)\n}\n\nmodule B",
                 "  r = p(text: txt)\n  return (label: r.label)\n}\n\nmodule B"),  # an error in A
    "# a comment line above everything\n\n" + BASE,  # every module moves down
    BASE.replace("hits = search(q: text)", "hits = search(q: text, extra: 1)"),
    BASE.replace("out label: Category", "out label: Category\n  out score: float"),  # a signature changes
    BASE.replace('type Category = "a" | "b"', 'type Category = "a" | "b" | "c"'),
    BASE.replace("  x: int = n + 1\n", "  x: int = n +\n"),  # a syntax error in B
    BASE.replace("module C(text: str)", "module A(text: str)"),  # a duplicate name
    BASE,
]


def _lower(text: str, reuse: ModuleReuse | None):
    previous = lowering.MODULE_REUSE
    lowering.MODULE_REUSE = reuse
    try:
        return lowering.lower(parse(text), "/reuse.lmp", text)
    finally:
        lowering.MODULE_REUSE = previous


def test_self_test_passes():
    assert self_test(ModuleReuse())


@pytest.mark.parametrize("order", [EDITS, list(reversed(EDITS)), EDITS[::2] + EDITS[1::2]])
def test_same_ir_and_diagnostics_as_lowering_again(order):
    reuse = ModuleReuse()
    for text in order:
        plain, plain_diags = _lower(text, None)
        reused, reused_diags = _lower(text, reuse)
        assert summary(reused) == summary(plain)
        assert sorted(map(repr, reused_diags)) == sorted(map(repr, plain_diags))
    assert reuse.hits > 0


def test_moved_module_keeps_its_predictors_linked_to_this_lowering():
    reuse = ModuleReuse()
    _lower(BASE, reuse)
    moved = "# moved\n" + BASE
    program, _ = _lower(moved, reuse)
    assert reuse.hits >= 3
    a = program.modules["A"]
    assert a.predictors[0].signature is program.signatures["S"]
    assert moved[a.span.start:a.span.start + len("module A")] == "module A"
    let = a.body[0]
    assert let.predictor is a.predictors[0]  # one object, moved once
    assert moved[let.span.start:let.span.end] == "let p = Predict(S)"


def test_an_inline_signature_declaration_is_context():
    text = BASE.replace("tool search", 'signature Q = "text: str -> label: Category"\n\ntool search') \
        .replace("let p = Predict(S)\n  return p(text: text)", "let p = Predict(Q)\n  return p(text: text)")
    edited = text.replace('signature Q = "text: str -> label: Category"', 'signature Q = "txt: str -> label: Category"')
    reuse = ModuleReuse()
    for t in (text, edited, text):
        plain, plain_diags = _lower(t, None)
        reused, reused_diags = _lower(t, reuse)
        assert summary(reused) == summary(plain)
        assert sorted(map(repr, reused_diags)) == sorted(map(repr, plain_diags))
