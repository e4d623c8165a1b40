"""The language server's view of `test` blocks: document symbols, and references from a test to what it names."""

from __future__ import annotations

from lsprotocol import types as lsp

from lmp.lsp.features import document_symbols
from lmp.lsp.index import FileIndex
from lmp.lsp.positions import LineMap
from lmp.project import load_text

TEXT = '''signature Classify = "event -> category"

module M(event: str) -> (category: str) {
  let c = Predict(Classify)
  return c(event: event)
}

metric exact(example, pred) -> bool {
  return example.category == pred.category
}

test battle for M {
  event: "Battle of X"
  check exact(example, result)
}
'''


def index() -> FileIndex:
    program = load_text(TEXT, "/tmp/sym.lmp").program
    return FileIndex(program, "/tmp/sym.lmp")


def test_tests_are_document_symbols() -> None:
    syms = document_symbols(index(), LineMap(TEXT))
    test = syms[-1]
    assert (test.name, test.kind, test.detail) == ("test battle", lsp.SymbolKind.Event, "for M")
    assert test.range.start.line == 11 and test.range.end.line == 14
    assert test.selection_range.start == lsp.Position(line=11, character=5)


def test_target_input_and_metric_resolve_to_their_declarations() -> None:
    idx = index()
    target = idx.at(TEXT.index("M {"))
    assert target is not None and target.kind == "module" and target.key[-1] == "M"
    field = idx.at(TEXT.index('event: "Battle'))
    assert field is not None and field.kind == "param"
    metric = idx.at(TEXT.index("exact(example, result)"))
    assert metric is not None and metric.kind == "metric"
