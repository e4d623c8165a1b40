"""Completion in and around `test` blocks: the target after `for`, missing inputs and `expect`/`check` at a
line start, the target's outputs and the bound names in an expectation, operators after an operand."""

from __future__ import annotations

from lmp.lsp import features
from lmp.lsp.index import FileIndex
from lmp.project import load_text

TEXT = '''signature Classify {
  in  event: str
  in  era: str
  out category: "war" | "science"
  out confidence: float
}

module Label(event: str) -> (category: "war" | "science") {
  let c = Predict(Classify)
  r = c(event: event)
  return (category: r.category)
}

metric exact(example, pred) -> float {
  return 1.0
}

test battle for Classify {
  event: "Battle of Hastings"
  expect category == "war"
}
'''


def labels(text: str, marker: str, after: str = "") -> list[str]:
    path = "/tmp/complete_tests.lmp"
    loaded = load_text(text, path)
    offset = text.index(marker) + len(marker) - len(after)
    return [i.label for i in features.completions(FileIndex(loaded.program, path), text, offset)]


def test_a_new_line_in_a_test_offers_missing_inputs_and_expectation_keywords():
    text = TEXT.replace('  expect category == "war"\n', '  expect category == "war"\n  \n')
    got = labels(text, 'expect category == "war"\n  ')
    assert "era" in got and "expect" in got and "check" in got
    assert "event" not in got  # already given
    assert "let" not in got and "in" not in got and "out" not in got and "str" not in got


def test_an_expectation_offers_outputs_bound_names_and_metrics_but_no_statement_keywords():
    text = TEXT.replace('  expect category == "war"\n', '  expect category == "war"\n  check \n')
    got = labels(text, "  check ")
    assert {"category", "confidence", "result", "example", "latency_ms", "exact"} <= set(got)
    assert "let" not in got and "return" not in got and "event" not in got


def test_after_an_operand_only_operators_contains_included():
    text = TEXT.replace('  expect category == "war"\n', '  expect category == "war"\n  check confidence \n')
    got = labels(text, "  check confidence ")
    assert set(got) == {"and", "or", "in", "not", "contains"}


def test_the_target_after_for_is_a_module_or_signature_not_a_metric():
    text = TEXT + "\ntest other for \n"
    got = labels(text, "test other for ")
    assert "Classify" in got and "Label" in got and "exact" not in got


def test_test_is_a_top_level_keyword():
    text = TEXT + "\nte"
    assert "test" in labels(text, "\nte")
