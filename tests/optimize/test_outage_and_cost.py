"""A dev baseline measured while every call fails is not a score; a resumed run's cost covers every leg."""

from __future__ import annotations

import json

import pytest

import lmp
from lmp.optimize.context import Reporter
from lmp.optimize.run import DevEvaluationFailed, checkpoint_path, optimize
from lmp.runtime import settings
from lmp.runtime.lm import FakeLM, History
from lmp.runtime.lm.base import LMConnectionError
from tests.optimize import toy
from tests.optimize.opt_helpers import setup


def flaky_task_lm() -> tuple[FakeLM, dict[str, bool]]:
    """The toy task model behind a switch: while `down`, every call fails as an unreachable server does."""
    down = {"value": True}

    def answer(messages: list[dict]) -> str:
        if down["value"]:
            raise LMConnectionError("connection refused: http://127.0.0.1:9/v1", model="fake")
        return toy.task_answer(messages)

    lm = FakeLM(answer, history=History())
    settings.configure(lm=lm, history=lm.history)
    return lm, down


def test_a_baseline_measured_during_an_outage_is_not_checkpointed_and_is_remeasured(tmp_path):
    lm, down = flaky_task_lm()
    handle, train, dev, metric = setup(tmp_path)
    out = str(tmp_path / "o.state.json")
    lines: list[str] = []
    with pytest.raises(DevEvaluationFailed) as info:
        optimize(handle, optimizer="labeled", trainset=train, devset=dev, metric=metric, output=out,
                 reporter=Reporter(quiet=True), concurrency=1)
    msg = str(info.value)
    assert "not a score" in msg and "rows failed" in msg and "connection refused" in msg
    assert "at most 1 of 16 rows may fail" in msg
    saved = json.loads(open(checkpoint_path(out)).read())["data"]
    assert not [k for k in saved if k.startswith("dev:")]  # the outage's 0.000 was not kept as a result
    failing_calls = len(lm.calls)

    down["value"] = False  # the server is back; the same command resumes
    reporter = Reporter(quiet=False, stream=_Lines(lines))
    res = optimize(lmp.load(toy.FIXTURES / "toy.lmp"), optimizer="labeled", trainset=train, devset=dev,
                   metric=metric, output=out, reporter=reporter, concurrency=1)
    assert res.before == pytest.approx(0.5)  # the true baseline, not 0.000
    assert (res.after - res.before) * 100 < 60
    assert any(line.startswith("dev before: 0.500") for line in lines)
    state = json.loads(open(out).read())
    assert state["scores"]["dev_before"] == pytest.approx(0.5) and state["scores"]["dev_before_failed"] == 0
    # Both legs are in the cost: the failed calls of the outage count too.
    assert state["cost"]["calls"] == len(lm.calls) and len(lm.calls) > failing_calls
    assert state["cost"]["legs"] == 2


def test_a_few_failed_rows_are_reported_with_the_score(tmp_path):
    calls = {"n": 0}

    def answer(messages: list[dict]) -> str:
        calls["n"] += 1
        if calls["n"] == 2:  # the second dev row, which the zero-shot model gets right
            raise LMConnectionError("connection reset by peer", model="fake")
        return toy.task_answer(messages)

    lm = FakeLM(answer, history=History())
    settings.configure(lm=lm, history=lm.history)
    handle, train, dev, metric = setup(tmp_path)
    lines: list[str] = []
    res = optimize(handle, optimizer="labeled", trainset=train, devset=dev, metric=metric,
                   output=str(tmp_path / "f.json"), reporter=Reporter(stream=_Lines(lines)), concurrency=1)
    assert res.state.scores["dev_before_failed"] == 1
    assert any("dev before: 0.438" in line and "1 row(s) failed" in line for line in lines)


def test_a_checkpointed_baseline_without_a_failure_count_is_measured_again(tmp_path, models):
    # Checkpoints written before the error cap may hold an outage's 0.000: they are not trusted.
    task, _ = models
    handle, train, dev, metric = setup(tmp_path)
    out = str(tmp_path / "old.state.json")
    small = {"num_candidate_programs": 2}
    with pytest.raises(KeyboardInterrupt):
        optimize(handle, optimizer="random-search", trainset=train, devset=dev, metric=metric, output=out,
                 settings=small, reporter=Reporter(quiet=True, callback=_interrupt), concurrency=1)
    path = checkpoint_path(out)
    ck = json.loads(open(path).read())
    key = next(k for k in ck["data"] if k.startswith("dev:before"))
    ck["data"][key] = {"score": 0.0, "n": len(dev), "ci": [0, 0], "candidate": {}}
    open(path, "w").write(json.dumps(ck))
    res = optimize(lmp.load(toy.FIXTURES / "toy.lmp"), optimizer="random-search", trainset=train, devset=dev,
                   metric=metric, output=out, settings=small, reporter=Reporter(quiet=True), concurrency=1)
    assert res.before == pytest.approx(0.5)


def test_the_cost_of_a_resumed_run_sums_its_legs(tmp_path, models, monkeypatch):
    task, _ = models
    handle, train, dev, metric = setup(tmp_path)
    out = str(tmp_path / "rs.state.json")
    from lmp.optimize.optimizers import base

    real = base.Optimizer.evaluate
    count = {"n": 0}
    on_disk: dict = {}

    def killed(self, *a, **kw):
        count["n"] += 1
        if count["n"] == 4:
            # What a kill -9 here would leave: the checkpoint as last saved (no exception handler runs).
            on_disk.update(json.loads(open(checkpoint_path(out)).read()))
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(base.Optimizer, "evaluate", killed)
    settings_ = {"num_candidate_programs": 4}
    with pytest.raises(KeyboardInterrupt):
        optimize(handle, optimizer="random-search", trainset=train, devset=dev, metric=metric, output=out,
                 settings=settings_, reporter=Reporter(quiet=True), concurrency=1)
    first_leg = len(task.calls)
    assert first_leg > 0
    legs = on_disk["data"]["_legs"]
    assert len(legs) == 1 and 0 < legs[0]["calls"] <= first_leg and legs[0]["tokens"] > 0
    monkeypatch.setattr(base.Optimizer, "evaluate", real)
    res = optimize(lmp.load(toy.FIXTURES / "toy.lmp"), optimizer="random-search", trainset=train, devset=dev,
                   metric=metric, output=out, settings=settings_, reporter=Reporter(quiet=True), concurrency=1)
    state = json.loads(open(out).read())
    assert state["cost"]["calls"] == len(task.calls) == res.calls  # both legs, not only the last one
    assert state["cost"]["calls"] > len(task.calls) - first_leg
    assert state["cost"]["legs"] == 2
    assert state["cost"]["tokens"] == sum(r.prompt_tokens + r.completion_tokens for r in task.history.records())


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines += [line for line in text.splitlines() if line]

    def flush(self) -> None:
        pass


def _interrupt(report) -> None:  # noqa: ANN001 - a TrialReport
    raise KeyboardInterrupt
