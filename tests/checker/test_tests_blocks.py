"""Checking `test` blocks: each mistake one diagnostic with its code, place and hint (E140-E145, W140)."""

from __future__ import annotations

from lmp.diagnostics import Diagnostic
from lmp.project import load_text

BASE = '''type Label = "war" | "politics"

signature Classify {
  in  event: str
  out category: Label
  out confidence: float
}

module M(event: str, hops: int = 1) -> (category: Label, confidence: float) {
  let c = Predict(Classify)
  r = c(event: event)
  return (category: r.category, confidence: r.confidence)
}

metric exact(example, pred) -> bool {
  return example.category == pred.category
}

metric score(example, pred) -> float {
  return 1.0
}
'''


def check(test: str) -> list[tuple[str, int, int, str, str | None]]:
    diags: list[Diagnostic] = load_text(BASE + test, "/tmp/t.lmp").diagnostics
    first = BASE.count("\n") + 1
    return [(d.code, d.span.line + 1 - first + 1, d.span.col + 1, d.message, d.hint) for d in diags]


def test_a_good_test_block_checks_clean() -> None:
    assert check('''test ok for M {
  event: "Battle of X"
  hops: 2
  expect category == "war"
  check exact(example, result) and confidence > 0.5 and latency_ms < 1000
  check score(example, result) >= 0.5
  check result.category in ["war", "politics"]
}
''') == []


def test_signature_target_and_contains() -> None:
    assert check('test s for Classify {\n  event: "x"\n  expect "wa" contains "w"\n  check category != "war"\n}\n') == []


def test_unknown_target_suggests_the_closest() -> None:
    [d] = check('test t for Mm {\n  event: "x"\n  expect true\n}\n')
    assert d[:4] == ("E140", 1, 12, "`Mm` is not a module or signature") and d[4] == "did you mean `M`?"


def test_a_metric_is_not_a_target() -> None:
    [d] = check('test t for exact {\n  event: "x"\n}\n')
    assert d[0] == "E140" and "is a metric" in d[3] and "check exact(example, result)" in (d[4] or "")


def test_unknown_input_missing_input_and_output_given_as_input() -> None:
    got = check('test t for M {\n  evnt: "x"\n  category: "war"\n  expect true\n}\n')
    assert [(c, line, col, msg) for c, line, col, msg, _ in got] == [
        ("E141", 2, 3, "`M` has no input `evnt`"),
        ("E141", 3, 3, "`category` is an output of `M`, not an input"),
    ]
    assert got[0][4] == "did you mean `event`?"
    got = check('test t for M {\n  hops: 2\n  expect true\n}\n')
    assert [(c, line, msg) for c, line, _, msg, _ in got] == [("E142", 1, "test `t` gives no value for `event` of `M`")]


def test_input_values_are_typed_constants() -> None:
    got = check('test t for M {\n  event: 3\n  hops: "two"\n  expect true\n}\n')
    assert [(c, line, msg) for c, line, _, msg, _ in got] == [
        ("E143", 2, "input `event` is `str`, but the test gives `int`"),
        ("E143", 3, "input `hops` is `int`, but the test gives `str`"),
    ]
    got = check('test t for M {\n  event: len("x")\n  expect true\n}\n')
    assert [(c, msg) for c, _, _, msg, _ in got] == [("E143", "test inputs must be constants")]


def test_non_member_literal_input() -> None:
    text = '''type Tone = "formal" | "casual"
signature Rewrite = "text, tone: Tone -> rewritten"
test t for Rewrite {
  text: "x"
  tone: "formel"
  expect len(rewritten) > 0
}
'''
    [d] = load_text(text, "/tmp/r.lmp").diagnostics
    assert (d.code, d.span.line + 1, d.message) == ("E143", 5, '"formel" is not a member of `Tone`')
    assert d.hint == 'did you mean "formal"? members: "formal" | "casual"'
    assert d.fixes and d.fixes[0].text == '"formal"'


def test_expectations_must_be_bool() -> None:
    got = check('test t for M {\n  event: "x"\n  check confidence\n  check score(example, result)\n}\n')
    assert [(c, line, msg) for c, line, _, msg, _ in got] == [
        ("E144", 3, "`check` needs true or false; this is `float`"),
        ("E144", 4, "`check` needs true or false; this is `float`"),
    ]


def test_unknown_output_names_and_fields() -> None:
    got = check('test t for M {\n  event: "x"\n  expect categry == "war"\n  expect result.confidenc > 0.5\n}\n')
    assert [(c, line, col, msg, hint) for c, line, col, msg, hint in got] == [
        ("E145", 3, 10, "`categry` is not an output of `M`", "did you mean `category`?"),
        ("E050", 4, 17, "`result` has no field `confidenc`", "did you mean `confidence`?"),
    ]


def test_non_member_string_in_an_expectation() -> None:
    [d] = check('test t for M {\n  event: "x"\n  expect category == "wr"\n}\n')
    assert d[0] == "E060" and d[3] == '"wr" is not a member of `Label`'


def test_no_expectation_is_a_warning_and_duplicate_names_an_error() -> None:
    got = check('test t for M {\n  event: "x"\n}\n\ntest t for M {\n  event: "y"\n  expect true\n}\n')
    assert [(c, line, msg) for c, line, _, msg, _ in got] == [
        ("W140", 1, "test `t` has no `expect` or `check`"),
        ("E020", 5, "test `t` is already defined"),
    ]


def test_an_unfinished_test_is_one_syntax_error() -> None:
    got = check('test t for M {\n  event: "x"\n  expect category ==\n}\n')
    assert [c for c, *_ in got] == ["E001"]
