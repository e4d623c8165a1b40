"""Feedback metrics (`-> (score: float, feedback: str)`): checked like any function, with E131/E132."""

from lmp.fmt import format_source
from lmp.ir.types import RecordType
from lmp.project import load_text

HEAD = '''signature S {
  in q: str
  out a: str
}
module M(q: str) -> (a: str) {
  let p = Predict(S)
  return p(q: q)
}
'''


def codes(src: str) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in load_text(HEAD + src, "m.lmp").diagnostics]


def test_feedback_metric_is_a_record_returning_metric() -> None:
    src = '''metric m(example, pred) -> (score: float, feedback: str) {
  if pred.a == example.a {
    return (score: 1.0, feedback: "right")
  }
  return (score: 0.0, feedback: "wrong: expected " + example.a)
}
'''
    loaded = load_text(HEAD + src, "m.lmp")
    assert loaded.diagnostics == []
    metric = loaded.program.modules["m"]
    assert isinstance(metric.returns, RecordType)
    assert [f.name for f in metric.returns.fields] == ["score", "feedback"]
    assert metric.outputs == []
    # The formatter keeps the record form.
    assert "metric m(example, pred) -> (score: float, feedback: str) {" in format_source(HEAD + src)


def test_objectives_and_per_predictor_feedback_and_named_record_type() -> None:
    src = '''type Graded = {score: float, brevity: float, feedback: str?}
metric many(example, pred) -> (score: bool, brevity: float, feedback: str?, feedback_p: str) {
  return (score: pred.a == example.a, brevity: 0.5, feedback: none, feedback_p: "say it shorter")
}
metric named(example, pred) -> Graded {
  return (score: 1.0, brevity: 1.0)
}
'''
    assert codes(src) == []


def test_wrong_field_types_missing_feedback_and_no_score() -> None:
    src = '''metric a(example, pred) -> (score: float, feedback: int) {
  return (score: 1.0, feedback: 3)
}
metric b(example, pred) -> (score: float, feedback: str) {
  return (score: 1.0)
}
metric c(example, pred) -> (feedback: str) {
  return (feedback: "x")
}
metric d(example, pred) -> (score: str, feedback: str) {
  return (score: "high", feedback: "x")
}
metric e(example, pred) -> (score: float, feedback: str) {
  return 1.0
}
'''
    found = load_text(HEAD + src, "m.lmp").diagnostics
    got = [(d.code, d.span.line - HEAD.count("\n") + 1) for d in found]
    assert got == [("E131", 1), ("E132", 5), ("E131", 7), ("E131", 10), ("E070", 14)]
    by_code = {d.code: d for d in found}
    assert "feedback" in by_code["E132"].message and by_code["E132"].hint
    assert all(d.hint for d in found)
    assert "`str`, not `int`" in found[0].message
    assert "needs a score field" in found[2].message
    assert "score field `score` must be" in found[3].message


def test_plain_score_metrics_unchanged() -> None:
    src = '''metric ok(example, pred) -> bool {
  return pred.a == example.a
}
metric bad(example, pred) -> str {
  return "x"
}
'''
    assert codes(src) == [("E130", 11)]
