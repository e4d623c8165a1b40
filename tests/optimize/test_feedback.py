"""Feedback metrics: the protocol for Python metrics and `.lmp` metrics returning a record."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import lmp
from lmp.optimize.evaluate import evaluate
from lmp.optimize.feedback import MetricResult, MetricValueError, interpret
from lmp.optimize.metrics import Metric, resolve_metric
from lmp.optimize.runner import Runner
from tests.optimize.test_gepa import fake, setup  # noqa: F401 - the fixture


@pytest.mark.parametrize("value,expected", [
    (True, MetricResult(1.0)),
    (0.25, MetricResult(0.25)),
    ((0.5, "half right"), MetricResult(0.5, "half right")),
    ({"score": 1, "feedback": "ok"}, MetricResult(1.0, "ok")),
    (SimpleNamespace(score=0.0, feedback="say PARIS"), MetricResult(0.0, "say PARIS")),
    ({"score": 0.0, "brevity": 1.0, "feedback": None}, MetricResult(0.0, None, {}, {"score": 0.0, "brevity": 1.0})),
    ({"accuracy": 1.0, "brevity": 0.5}, MetricResult(0.75, None, {}, {"accuracy": 1.0, "brevity": 0.5})),
    ({"score": 0, "predictor_feedback": {"Loud.say": "upper case"}}, MetricResult(0.0, None, {"Loud.say": "upper case"})),
])
def test_python_metric_protocol(value, expected):
    assert interpret(value, "m", ["Loud.say"]) == expected


def test_feedback_name_fields_map_to_predictor_ids():
    got = interpret({"score": 0, "feedback": "all", "feedback_say": "shout"}, "m", ["Loud.say", "Other.say2"])
    assert got.predictor_feedback == {"Loud.say": "shout"}
    assert got.feedback_for("Loud.say") == "shout" and got.feedback_for("Other.say2") == "all"


@pytest.mark.parametrize("value,message", [
    ("yes", "must return a bool, a number"),
    ({"feedback": "x"}, "returned no score"),
    ({"score": 1, "feedback": 3}, "feedback of type int"),
    ({"score": float("nan")}, "finite number"),
    ({"score": 1, "predictor_feedback": ["x"]}, "map predictor ids"),
])
def test_bad_metric_values_name_the_metric(value, message):
    with pytest.raises(MetricValueError, match=message) as err:
        interpret(value, "graded", [])
    assert "`graded`" in str(err.value)


def test_lmp_feedback_metric_and_python_metric_with_trace_reach_the_evaluation_rows(tmp_path, fake):  # noqa: F811
    handle, train, dev, graded = setup(tmp_path)
    runner = Runner(handle, "Loud")
    res = evaluate(runner, dev[:2], graded, None, concurrency=1)
    fb = res.results[0].feedback
    assert fb is not None and fb.score == 0.0
    assert fb.feedback == f"expected {dev[0].gold['answer']}, got {dev[0].inputs['city']}: write the answer in UPPERCASE letters"
    assert resolve_metric("exact", handle)(dev[0], {"answer": dev[0].gold["answer"]}) == 1.0

    seen = []

    def per_predictor(example, pred, trace):
        seen.append([e.predictor for e in trace])
        return {"score": 0.0, "predictor_feedback": {e.predictor: f"you said {e.outputs['answer']}" for e in trace}}

    res = evaluate(runner, dev[:1], Metric("python", per_predictor), None, concurrency=1)
    assert seen == [["Loud.say"]]
    assert res.results[0].feedback.feedback_for("Loud.say") == f"you said {dev[0].inputs['city']}"




def test_a_feedback_metric_works_as_a_reward(tmp_path):
    from lmp.runtime import settings
    from lmp.runtime.lm import FakeLM, History
    from tests.optimize.toy import chat

    src = tmp_path / "best.lmp"
    src.write_text('''signature Write {
  in  topic: str
  out text: str
}

module Short(topic: str) -> (text: str) {
  let write = BestOfN(Write, N: 3, reward: short, threshold: 1.0)
  return write(topic: topic)
}

metric short(example, pred) -> (score: float, feedback: str) {
  if len(pred.text) < 10 {
    return (score: 1.0, feedback: "short enough")
  }
  return (score: 0.0, feedback: "too long")
}
''')
    answers = [chat(text="a very long answer indeed"), chat(text="tiny"), chat(text="never asked")]
    lm = FakeLM(answers, history=History())
    settings.configure(lm=lm, history=lm.history)
    handle = lmp.load(src)
    assert handle.program and not [d for d in handle.diagnostics if d.severity.name == "ERROR"]
    assert handle.interpreter.run("Short", {"topic": "x"}).text == "tiny"
    assert len(lm.calls) == 2  # stopped at the threshold


def test_an_lm_judge_metric_returns_the_judges_critique_as_feedback(tmp_path):
    from lmp.optimize.data import Example
    from lmp.runtime import settings
    from lmp.runtime.lm import FakeLM, History
    from tests.optimize.toy import chat, sections

    src = tmp_path / "judged.lmp"
    src.write_text('''model judge = "fake:unused"

signature Answer {
  in  question: str
  out answer: str
}

signature Critique {
  """Is the answer right? Say what is wrong with it."""
  in  question: str
  in  answer: str
  out correct: bool
  out critique: str
}

module QA(question: str) -> (answer: str) {
  let answer = Predict(Answer)
  return answer(question: question)
}

metric judged(example, pred) -> (score: float, feedback: str) {
  let judge = Predict(Critique) using judge
  v = judge(question: example.question, answer: pred.answer)
  if v.correct {
    return (score: 1.0, feedback: v.critique)
  }
  return (score: 0.0, feedback: v.critique)
}
''')

    def judge(messages):
        q = sections(messages[-1]["content"])
        return chat(correct="false", critique=f"'{q['answer'].splitlines()[0]}' is not a city; name the capital")

    task, judge_lm = FakeLM(default=chat(answer="blue"), history=History()), FakeLM(judge, model="fake-judge")
    settings.configure(lm=task, history=task.history, lms={"judge": judge_lm})
    handle = lmp.load(src)
    got = resolve_metric("judged", handle).result(Example({"question": "Capital of France?"}, {}, "row 1"),
                                                  {"answer": "blue"})
    assert got == MetricResult(0.0, "'blue' is not a city; name the capital")
    assert len(judge_lm.calls) == 1 and not task.calls


def test_eval_out_keeps_each_rows_feedback_and_a_resume_reads_it_back(tmp_path, fake):  # noqa: F811
    handle, train, dev, graded = setup(tmp_path)
    runner = Runner(handle, "Loud")
    out = tmp_path / "results.jsonl"
    first = evaluate(runner, dev[:2], graded, None, concurrency=1, out=str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["metric"]["feedback"] for r in rows] == [r.feedback.feedback for r in first.results]
    assert "UPPERCASE" in rows[0]["metric"]["feedback"]
    again = evaluate(runner, dev[:2], graded, None, concurrency=1, out=str(out))
    assert again.resumed == 2
    assert [r.feedback.feedback for r in again.results] == [r.feedback.feedback for r in first.results]


def test_eval_out_has_no_metric_entry_for_a_plain_score(tmp_path, fake):  # noqa: F811
    handle, train, dev, graded = setup(tmp_path)
    out = tmp_path / "plain.jsonl"
    evaluate(Runner(handle, "Loud"), dev[:1], resolve_metric("exact", handle), None, concurrency=1, out=str(out))
    assert "metric" not in json.loads(out.read_text().splitlines()[0])
