"""GEPA on a scripted task where only the feedback's advice helps (tests/optimize/gepa_task.py)."""

from __future__ import annotations

import json

import pytest

import lmp
from lmp.optimize.budget import BudgetSpec, parse_budget
from lmp.optimize.context import Reporter
from lmp.optimize.data import load_dataset
from lmp.optimize.metrics import resolve_metric
from lmp.optimize.run import checkpoint_path, optimize
from lmp.optimize.state import load_state, validate
from lmp.runtime import settings
from tests.optimize import gepa_task


@pytest.fixture
def fake():
    task, reflector = gepa_task.models()
    settings.configure(lm=task, history=task.history, lms={"reflect": reflector, "prompt": reflector})
    return task, reflector


def setup(tmp_path, metric: str = "graded"):
    handle = lmp.load(gepa_task.FIXTURE)
    mod = handle.program.modules["Loud"]
    train_path, dev_path = gepa_task.datasets(tmp_path)
    m = resolve_metric(metric, handle)
    return handle, load_dataset(train_path, mod, require_gold=False), load_dataset(dev_path, mod, require_gold=False), m


def run(tmp_path, optimizer: str, budget=None, settings_=None, out="s.json", metric="graded", **kw):
    handle, train, dev, m = setup(tmp_path, metric)
    return optimize(handle, optimizer=optimizer, trainset=train, devset=dev, metric=m, output=str(tmp_path / out),
                    settings=settings_ or {}, budget=budget, prompt_model="prompt", reporter=Reporter(quiet=True),
                    concurrency=1, **kw)


def test_gepa_finds_what_the_feedback_points_at_and_records_the_lineage(tmp_path, fake):
    res = run(tmp_path, "gepa", budget=BudgetSpec(calls=60))
    assert res.before == 0.0 and res.after == 1.0
    instr = res.state.predictors["Loud.say"].instructions or ""
    assert "uppercase" in instr.lower()
    data = json.loads((tmp_path / "s.json").read_text())
    assert validate(data) == []
    lineage = data["lineage"]
    chosen = next(c for c in lineage["candidates"] if c["id"] == lineage["chosen"])
    assert chosen["origin"] == "reflect" and chosen["parents"] == [0] and chosen["predictor"] == "Loud.say"
    assert chosen["dev_score"] == 1.0 and chosen["minibatch"] == {"parent": 0.0, "child": 1.0}
    assert any("UPPERCASE" in f for f in chosen["feedback"])
    assert lineage["path"] == [chosen["id"], 0]
    assert lineage["frontier"] == [chosen["id"]]  # it dominates the seed
    assert load_state(str(tmp_path / "s.json")).lineage == lineage
    assert res.calls <= 60


@pytest.mark.parametrize("optimizer,opt_settings", [("mipro", {"num_trials": 6, "num_candidates": 4}),
                                                    ("copro", {"breadth": 4, "depth": 2})])
def test_mipro_and_copro_do_not_find_it_within_the_same_budget(tmp_path, fake, optimizer, opt_settings):
    res = run(tmp_path, optimizer, budget=BudgetSpec(calls=60), settings_=opt_settings)
    assert res.after == 0.0
    assert "uppercase" not in (res.state.predictors.get("Loud.say").instructions or "").lower()


def test_without_feedback_gepa_only_sees_scores_and_does_not_find_it(tmp_path, fake):
    res = run(tmp_path, "gepa", budget=BudgetSpec(calls=60), metric="exact")
    assert res.after == 0.0


@pytest.mark.parametrize("spec", [BudgetSpec(calls=23), BudgetSpec(tokens=900), BudgetSpec(calls=40, tokens=1500)])
def test_budgets_are_never_exceeded(tmp_path, fake, spec):
    task, _ = fake
    res = run(tmp_path, "gepa", budget=spec, settings_={"use_merge": True}, evaluate_dev=True)
    paid = [r for r in task.history.records() if not r.cached]
    if spec.calls is not None:
        assert res.calls <= spec.calls and len(paid) <= spec.calls
    if spec.tokens is not None:
        assert sum(r.prompt_tokens + r.completion_tokens for r in paid) <= spec.tokens


def test_resume_after_a_kill_gives_the_same_final_state(tmp_path, fake, monkeypatch):
    _task, reflector = fake
    full = run(tmp_path, "gepa", settings_={"max_iterations": 6}, out="full.json")
    expected = json.loads((tmp_path / "full.json").read_text())
    reflections = len(reflector.calls)

    from lmp.optimize.optimizers import gepa

    real = gepa.evaluate
    count = {"n": 0}

    def killed(*a, **kw):
        count["n"] += 1
        if count["n"] == 4:
            raise KeyboardInterrupt  # killed while the accepted child is scored on dev
        return real(*a, **kw)

    monkeypatch.setattr(gepa, "evaluate", killed)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "gepa", settings_={"max_iterations": 6}, out="resumed.json")
    assert (tmp_path / "resumed.ckpt.json").exists() and checkpoint_path("resumed.json") == "resumed.ckpt.json"
    assert len(reflector.calls) == 2 * reflections  # the killed run had reflected once
    monkeypatch.setattr(gepa, "evaluate", real)
    resumed = run(tmp_path, "gepa", settings_={"max_iterations": 6}, out="resumed.json")
    assert len(reflector.calls) == 2 * reflections  # the reflection came from the checkpoint
    got = json.loads((tmp_path / "resumed.json").read_text())
    for key in ("predictors", "lineage", "scores"):
        assert got[key] == expected[key], key
    assert resumed.after == full.after == 1.0
    assert not (tmp_path / "resumed.ckpt.json").exists()


def test_merge_combines_two_lineages_that_changed_different_predictors():
    from lmp.optimize.optimizers.gepa_pareto import PoolEntry, ancestors, frontier_wins, sample_parent

    pool = [PoolEntry(0, {}, [0, 0, 0], 0.0), PoolEntry(1, {}, [1, 0, 0], 1 / 3, parents=[0]),
            PoolEntry(2, {}, [0, 1, 1], 2 / 3, parents=[0]), PoolEntry(3, {}, [0, 1, 0], 1 / 3, parents=[2])]
    # 0 and 3 are dominated by 2; 1 wins row 0, 2 wins rows 1 and 2.
    assert frontier_wins(pool) == {1: 1, 2: 2}
    assert ancestors(pool, 3) == {0, 2}
    import random

    picks = [sample_parent(pool, random.Random(i)).id for i in range(300)]
    assert set(picks) == {1, 2} and 0.55 < picks.count(2) / 300 < 0.8


def test_budget_spec_parsing():
    assert parse_budget("120") == BudgetSpec(calls=120)
    assert parse_budget("calls=50,tokens=9000") == BudgetSpec(calls=50, tokens=9000)
    assert parse_budget("cost=0.25") == BudgetSpec(cost=0.25)
    assert parse_budget("medium") == BudgetSpec(preset="medium")
    with pytest.raises(Exception, match="cannot read 'lots'"):
        parse_budget("lots")
    with pytest.raises(Exception, match="must be positive"):
        parse_budget("tokens=0")


def test_combine_takes_each_predictor_from_the_lineage_that_changed_it():
    from lmp.optimize.optimizers.gepa import GEPA
    from lmp.optimize.optimizers.gepa_pareto import PoolEntry
    from lmp.optimize.state import PredictorState

    def ps(text):
        return PredictorState("sha256:" + "0" * 64, text)

    g = GEPA()
    g.pids = ["P.extract", "P.decide"]
    seed = PoolEntry(0, {}, [0, 0], 0.0)
    a = PoolEntry(1, {"P.extract": ps("extract better")}, [1, 0], 0.5, parents=[0])
    b = PoolEntry(2, {"P.decide": ps("decide better")}, [0, 1], 0.5, parents=[0])
    merged = g._combine(a, b, seed)
    assert {k: v.instructions for k, v in merged.items()} == {"P.extract": "extract better",
                                                              "P.decide": "decide better"}
    # Both changed the same predictor and nothing else: nothing to merge.
    c = PoolEntry(3, {"P.extract": ps("extract other")}, [0, 1], 0.5, parents=[0])
    assert g._combine(a, c, seed) is None


def test_predictors_take_turns_per_candidate():
    from lmp.optimize.optimizers.gepa import GEPA
    from lmp.optimize.optimizers.gepa_pareto import PoolEntry

    g = GEPA()
    g.pids, g.turn = ["P.a", "P.b", "P.c"], {}
    seed = PoolEntry(0, {}, [0], 0.0)
    child = PoolEntry(1, {}, [0], 0.0, parents=[0], origin="reflect", predictor="P.b")
    assert [g._next_predictor(seed) for _ in range(4)] == ["P.a", "P.b", "P.c", "P.a"]
    assert [g._next_predictor(child) for _ in range(2)] == ["P.c", "P.a"]


def test_plan_projects_rows_scored_and_reflections(tmp_path, fake):
    from lmp.optimize.plan import make_plan

    handle, train, dev, metric = setup(tmp_path)
    plan = make_plan(handle, "Loud", "gepa", {"max_metric_calls": 50}, train, dev, metric=metric)
    phases = {p.phase: p for p in plan.phases}
    assert (phases["trials"].calls_min, phases["trials"].calls_max) == (0, 42)  # 50 rows, the seed's 8 free
    assert phases["reflection"].calls_max == 14 and phases["reflection"].role == "prompt"
    assert phases["final"].calls_max == 0
    # The real run stays inside the projection.
    res = run(tmp_path, "gepa", settings_={"max_metric_calls": 50}, out="p.json")
    assert res.calls - len(dev) <= phases["trials"].calls_max + phases["reflection"].calls_max


def test_a_reflection_that_is_not_an_instruction_is_rejected_and_counted(tmp_path, fake):
    _task, reflector = fake
    code = "```python\ndef answer(city):\n    return city.upper()\n```"
    reflector._func = lambda messages: gepa_task.chat(new_instruction=code)
    res = run(tmp_path, "gepa", settings_={"max_iterations": 3}, out="r.json")
    assert res.after == 0.0 and "Loud.say" not in res.state.predictors
    assert res.state.scores["unusable_proposals"] == res.state.scores["proposals"] == 3
