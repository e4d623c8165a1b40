"""Cost per phase: every model call is counted once, in its phase, as paid or as served from the cache;
nothing is paid twice (the baseline and the teacher traces of an earlier run come from the cache)."""

from __future__ import annotations

import io

import pytest

from lmp.optimize.context import Reporter
from lmp.optimize.costs import format_table, total
from lmp.optimize.run import optimize
from lmp.runtime import settings
from lmp.runtime.lm import History
from lmp.runtime.lm.cache import DiskCache
from lmp.runtime.lm.fake_server import FakeServer
from lmp.runtime.lm.litellm_lm import LiteLLM
from tests.optimize import toy
from tests.optimize.opt_helpers import setup


@pytest.fixture
def served(tmp_path):
    """The toy task model behind a loopback HTTP server, with lmp's real response cache in front of it."""
    with FakeServer(responder=lambda body: toy.task_answer(body["messages"])) as srv:
        hist = History()
        lm = LiteLLM("openai/toy", api_base=srv.url, cache=DiskCache(str(tmp_path / "cache")), history=hist)
        settings.configure(lm=lm, history=hist)
        yield srv


def run(tmp_path, optimizer, name, lines=None, concurrency=2, **kw):
    handle, train, dev, metric = setup(tmp_path)
    rep = Reporter(stream=_Lines(lines)) if lines is not None else Reporter(quiet=True)
    return optimize(handle, optimizer=optimizer, trainset=train, devset=dev, metric=metric,
                    output=str(tmp_path / f"{name}.json"), reporter=rep, concurrency=concurrency, **kw), train, dev


def test_bootstrap_pays_the_baseline_the_teacher_and_the_final_evaluation_once_each(tmp_path, served):
    res, train, dev = run(tmp_path, "bootstrap", "b")
    ph = res.phases
    assert list(ph) == ["baseline", "bootstrap", "final"]
    assert ph["baseline"]["calls"] == len(dev) and ph["final"]["calls"] == len(dev)
    # The teacher (15 labeled demos) is right on the toy rows: it stops once 4 traces passed.
    assert ph["bootstrap"]["calls"] == 4
    assert res.calls == len(dev) + 4 + len(dev) == total(ph)["calls"]
    assert len(served.requests) == res.calls  # every paid call reached the server, no more
    assert all(p["cached_calls"] == 0 for p in ph.values())
    assert ph["baseline"]["tokens"] > 0 and ph["baseline"]["seconds"] > 0


def test_a_second_run_pays_neither_the_baseline_nor_the_teacher_traces_again(tmp_path, served):
    first, _, dev = run(tmp_path, "bootstrap", "b")
    before = len(served.requests)
    second, _, _ = run(tmp_path, "random-search", "rs", settings={"num_candidate_programs": 2})
    ph = second.phases
    assert ph["baseline"] == {**ph["baseline"], "calls": 0, "cached_calls": len(dev)}
    # The first run's teacher traces are cache hits; only examples it never traced (random search's
    # shuffled bootstraps go further into the training set) are paid.
    assert ph["bootstrap"]["cached_calls"] == first.phases["bootstrap"]["calls"]
    assert len(served.requests) - before == second.calls


def test_trial_lines_show_paid_and_cached_calls_of_that_trial(tmp_path, served):
    lines: list[str] = []
    # One row at a time: which rows a trial stopped early had asked must not depend on thread timing.
    res, _, dev = run(tmp_path, "random-search", "rs", lines, 1, settings={"num_candidate_programs": 2})
    trials = [line for line in lines if line.startswith("trial ")]
    assert len(trials) == 5
    # Trial 1 is the zero-shot program, which the baseline already scored: nothing paid, nothing asked.
    assert "· 0 calls paid + 0 cached (" in trials[0]
    paid = [r.paid for r in res.trials]
    assert sum(paid) == res.phases["trials"]["calls"]
    assert all(f"· {r.paid} calls paid + {r.cached} cached ({r.calls} paid in all)" in line
               for r, line in zip(res.trials, trials, strict=True))
    # A rerun of the same command is served by the cache: the lines say so instead of counting calls again.
    (tmp_path / "rs.json").unlink()
    again: list[str] = []
    res2, _, _ = run(tmp_path, "random-search", "rs", again, 1, settings={"num_candidate_programs": 2})
    assert res2.calls == 0 and res2.cached_calls > 0
    assert all(" 0 calls paid + " in line for line in again if line.startswith("trial "))


def test_the_phase_table_lists_every_phase_and_the_total():
    phases = {"baseline": {"calls": 16, "cached_calls": 0, "tokens": 900, "cost": 0.0012, "seconds": 2.0},
              "trials": {"calls": 40, "cached_calls": 8, "tokens": 4000, "cost": 0.005, "seconds": 9.5}}
    text = format_table(phases)
    rows = text.splitlines()
    assert rows[0].split() == ["phase", "calls", "paid", "cached", "tokens", "cost", "$", "time"]
    assert rows[1].split()[:6] == ["baseline", "(dev", "before)", "16", "0", "900"]
    assert rows[-1].split() == ["total", "56", "8", "4900", "0.0062", "11.5s"]


def test_a_resumed_run_reports_the_phases_of_both_legs(tmp_path, served, monkeypatch):
    from lmp.optimize.optimizers import base

    real = base.Optimizer.evaluate
    count = {"n": 0}

    def crashing(self, *a, **kw):
        count["n"] += 1
        if count["n"] == 3:
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(base.Optimizer, "evaluate", crashing)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "random-search", "rs", settings={"num_candidate_programs": 2})
    monkeypatch.setattr(base.Optimizer, "evaluate", real)
    res, _, dev = run(tmp_path, "random-search", "rs", settings={"num_candidate_programs": 2})
    assert res.phases["baseline"]["calls"] == len(dev)  # paid in the first leg, counted once
    assert total(res.phases)["calls"] == res.calls == len(served.requests)


class _Lines(io.StringIO):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def write(self, s: str) -> int:
        self.lines.extend(x for x in s.splitlines() if x)
        return len(s)


def test_the_baselines_unparsed_answers_are_not_asked_again_by_the_zero_shot_trial(tmp_path):
    from lmp.runtime.lm import FakeLM

    def weak_zero_shot(messages):
        demos = [m for m in messages[1:-1] if m["role"] == "assistant" and "[[ ## label" in m["content"]]
        if not demos:  # zero-shot (and its repair turns): the model rambles
            return "I think this movie is about feelings."
        return toy.task_answer(messages)

    lm = FakeLM(weak_zero_shot, history=History())
    settings.configure(lm=lm, history=lm.history)
    lines: list[str] = []
    res, _, dev = run(tmp_path, "random-search", "rs", lines, settings={"num_candidate_programs": 1})
    # No cache here: before the fix the zero-shot trial asked all 16 rows again (with their repair calls).
    assert res.phases["baseline"]["calls"] >= 2 * len(dev)  # each unparsed row: the answer and the repair ladder
    assert res.before_eval.score == 0.0
    zero_shot = res.trials[0]
    assert zero_shot.note.startswith("zero-shot") and zero_shot.paid == zero_shot.cached == 0
    assert zero_shot.score == 0.0
