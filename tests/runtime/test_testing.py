"""lmp.runtime.testing: discovering test blocks and running them against a scripted model."""

from __future__ import annotations

import threading

from lmp.project import load_text
from lmp.runtime import settings
from lmp.runtime.lm import FakeLM, History
from lmp.runtime.lm.base import LMConnectionError
from lmp.runtime.testing import discover, run_tests, summarize

PROGRAM = '''type Label = "war" | "politics"

signature Classify {
  in  event: str
  out category: Label
  out confidence: float
}

module M(event: str) -> (category: Label, confidence: float) {
  let c = Predict(Classify)
  return c(event: event)
}

metric exact(example, pred) -> bool {
  return example.category == pred.category
}

test battle for M {
  event: "Battle of Nineveh"
  expect category == "war"
  check confidence > 0.5
}

test treaty for M {
  event: "Treaty of Westphalia"
  expect category == "politics"
  check exact(example, result) and latency_ms < 60000
}

test sig for Classify {
  event: "Battle of Hastings"
  expect result.category in ["war", "politics"]
  check confidence contains 1
}
'''


def answer(category: str, confidence: float) -> str:
    return f"[[ ## category ## ]]\n{category}\n\n[[ ## confidence ## ]]\n{confidence}\n\n[[ ## completed ## ]]"


def program(text: str = PROGRAM):  # noqa: ANN201
    loaded = load_text(text, "/tmp/prog.lmp")
    return loaded.program


def by_event(mapping: dict[str, str]) -> FakeLM:
    lm = FakeLM(mapping, history=History())
    settings.configure(lm=lm, history=lm.history, cache=False)
    return lm


def test_discover_reads_inputs_labels_and_targets() -> None:
    cases = discover(program())
    assert [c.name for c in cases] == ["battle", "treaty", "sig"]
    battle = cases[0]
    assert battle.target == "M" and battle.target_kind == "module"
    assert battle.inputs == {"event": "Battle of Nineveh"}
    assert battle.labels == {"category": "war"}  # from `expect category == "war"`
    assert cases[2].target_kind == "signature" and cases[2].labels == {}
    assert battle.output_types == {"category": "Label", "confidence": "float"}
    assert battle.span.line == 17 and battle.id.endswith("prog.lmp::battle")  # 0-based: line 18
    assert [c.name for c in discover(program(), "TREAT")] == ["treaty"]
    assert [c.name for c in discover(program(), "classify::")] == ["sig"]


def test_pass_fail_and_soft_check() -> None:
    by_event({"Nineveh": answer("war", 0.3), "Westphalia": answer("war", 0.9), "Hastings": answer("war", 1.0)})
    results = {r.name: r for r in run_tests(program(), concurrency=1)}
    battle = results["battle"]
    # A failed soft check is reported but the test passes.
    assert battle.status == "pass"
    assert battle.outputs == {"category": "war", "confidence": 0.3}
    assert [e.passed for e in battle.expectations] == [True, False]
    soft = battle.failed_checks[0]
    assert soft.kind == "check" and soft.source == "confidence > 0.5"
    assert soft.message == "0.3 > 0.5 is false (`confidence` = 0.3)"
    assert soft.span.line == 20
    treaty = results["treaty"]
    assert treaty.status == "fail"
    hard = treaty.failed_expects[0]
    assert hard.message == '"war" == "politics" is false (`category` = "war")'
    # `example` carries the label, so the metric sees the gold category and fails too.
    assert treaty.expectations[1].passed is False
    assert "exact(example, result)" in treaty.expectations[1].message
    assert treaty.prompt_tokens > 0 and treaty.completion_tokens > 0 and treaty.calls == 1
    assert treaty.cache_hits == 0 and treaty.model_ids == ["fake"]
    assert [r.messages[-1]["content"] for r in treaty.records][0].count("Treaty of Westphalia") == 1
    # `check confidence contains 1` cannot be evaluated on a float: reported as a failed check.
    sig = results["sig"]
    assert sig.status == "pass" and "could not be evaluated" in sig.failed_checks[0].message


def test_model_error_is_an_error_status_with_the_message() -> None:
    lm = FakeLM(errors=[LMConnectionError("connection refused by http://127.0.0.1:9")] * 10, history=History())
    settings.configure(lm=lm, history=lm.history, cache=False)
    [res] = run_tests(program(), discover(program(), "battle"))
    assert res.status == "error"
    assert "connection refused" in (res.error or "")
    assert res.outputs is None and res.expectations == []


def test_unparseable_answer_is_an_error() -> None:
    lm = FakeLM(default="no fields at all", history=History())
    settings.configure(lm=lm, history=lm.history, cache=False)
    [res] = run_tests(program(), discover(program(), "battle"))
    assert res.status == "error" and "category" in (res.error or "")


def test_repeat_gives_a_pass_rate() -> None:
    answers = iter([answer("war", 0.9), answer("politics", 0.9), answer("war", 0.9)])
    lm = FakeLM(lambda msgs: next(answers), history=History())
    settings.configure(lm=lm, history=lm.history, cache=False)
    results = run_tests(program(), discover(program(), "battle"), repeat=3, concurrency=1)
    assert [r.attempt for r in results] == [1, 2, 3]
    [summary] = summarize(results)
    assert summary.passed == 2 and round(summary.pass_rate, 2) == 0.67
    assert summary.status == "fail"


def test_model_sets_run_each_case_under_each_model() -> None:
    models = [{"default": "fake:" + answer("war", 0.9)}, {"default": "fake:" + answer("politics", 0.9)}]
    results = run_tests(program(), discover(program(), "battle"), models=models)
    assert [(r.models, r.status) for r in results] == [(models[0], "pass"), (models[1], "fail")]
    assert {len(s.results) for s in summarize(results)} == {1}


def test_on_result_concurrency_and_cancel() -> None:
    gate = threading.Event()
    started = threading.Event()

    def slow(msgs: list) -> str:
        started.set()
        gate.wait(5)
        return answer("war", 0.9)

    lm = FakeLM(slow, history=History())
    settings.configure(lm=lm, history=lm.history, cache=False)
    cancel = threading.Event()
    seen: list[str] = []
    out: list = []
    worker = threading.Thread(target=lambda: out.extend(run_tests(
        program(), concurrency=1, cancel=cancel, on_result=lambda r: seen.append(f"{r.name}:{r.status}"))))
    worker.start()
    assert started.wait(5)
    cancel.set()  # the first test is running: it finishes; the other two never start
    gate.set()
    worker.join(10)
    assert [r.status for r in out] == ["pass", "cancelled", "cancelled"]
    assert seen == ["battle:pass", "treaty:cancelled", "sig:cancelled"]
    assert len(lm.calls) == 1


def test_results_are_json_ready() -> None:
    import json

    by_event({"Nineveh": answer("war", 0.9), "Westphalia": answer("politics", 0.9), "Hastings": answer("war", 1.0)})
    data = [r.to_dict() for r in run_tests(program())]
    text = json.dumps(data)
    assert json.loads(text)[0]["expectations"][0]["span"] == {
        "line": 20, "column": 3, "end_line": 20, "end_column": 27, "start": data[0]["expectations"][0]["span"]["start"],
        "end": data[0]["expectations"][0]["span"]["end"]}
    assert [d["status"] for d in data] == ["pass", "pass", "pass"]


def test_unknown_target_is_reported_not_run() -> None:
    text = PROGRAM + '\ntest ghost for Nope {\n  event: "x"\n}\n'
    by_event({})
    cases = discover(program(text), "ghost")
    assert cases[0].problem and "Nope" in cases[0].problem
    [res] = run_tests(program(text), cases)
    assert res.status == "error" and "is not a module or signature" in (res.error or "")
