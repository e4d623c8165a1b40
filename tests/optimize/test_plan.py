"""`--plan` projects the paid calls of a run per phase without calling a model; a scripted run's real
counts fall inside the projected ranges, exactly where the work is fixed, and tokens within a factor 2."""

from __future__ import annotations

import pytest

from lmp.optimize.context import Reporter
from lmp.optimize.plan import make_plan, price
from lmp.optimize.run import optimize
from tests.optimize.opt_helpers import setup

SETTINGS = {"random-search": {"num_candidate_programs": 4}, "copro": {"breadth": 4, "depth": 2},
            "mipro": {"num_trials": 6}, "ensemble": {"num_candidate_programs": 2, "size": 2},
            "gepa": {"max_metric_calls": 60}}


@pytest.mark.parametrize("name", ["labeled", "bootstrap", "random-search", "knn", "copro", "mipro", "ensemble", "gepa"])
def test_the_projection_brackets_a_scripted_run(name, tmp_path, models):
    task, _ = models
    handle, train, dev, metric = setup(tmp_path)
    st = SETTINGS.get(name, {})
    plan = make_plan(handle, "Classify", name, st, train, dev, metric=metric, prompt_model="prompt")
    assert not task.calls  # planning called no model
    res = optimize(handle, optimizer=name, trainset=train, devset=dev, metric=metric, settings=st,
                   output=str(tmp_path / "s.json"), prompt_model="prompt", reporter=Reporter(quiet=True),
                   concurrency=1)
    actual = {k: v["calls"] for k, v in res.phases.items()}
    projected = {p.phase: p for p in plan.phases}
    assert set(actual) <= set(projected), (actual, [p.phase for p in plan.phases])
    for phase, p in projected.items():
        got = actual.get(phase, 0)
        assert p.calls_min <= got <= p.calls_max, (name, phase, got, p)
    assert projected["baseline"].calls_min == projected["baseline"].calls_max == len(dev) == actual["baseline"]
    total = plan.total()
    assert total["calls_min"] <= res.calls <= total["calls_max"]
    # Tokens: the rendered prompts at the maximum count; a scripted model counts words, so within 2x.
    base = res.phases["baseline"]["tokens"]
    assert base / 2 <= projected["baseline"].tokens <= base * 2, (projected["baseline"].tokens, base)


def test_bootstrap_projection_is_tight(tmp_path, models):
    handle, train, dev, metric = setup(tmp_path)
    plan = make_plan(handle, "Classify", "bootstrap", {}, train, dev, metric=metric)
    # dev before + the teacher (4 to 16 rows) + dev after: 36 to 48 calls.
    assert (plan.total()["calls_min"], plan.total()["calls_max"]) == (16 + 4 + 16, 16 + 16 + 16)
    text = plan.format()
    assert "teacher traces" in text and "36–48" in text and "Nothing was sent to a model" in text


def test_a_judge_metric_adds_its_calls_per_scored_row_and_the_budget_caps_the_search(tmp_path, models):
    from lmp.optimize.metrics import resolve_metric

    handle, train, dev, _ = setup(tmp_path)
    judged = resolve_metric("judged", handle)
    plan = make_plan(handle, "Classify", "random-search", {"num_candidate_programs": 4}, train, dev,
                     metric=judged, budget=30)
    by = {p.phase: p for p in plan.phases}
    assert plan.sizes.per_row == 2 and by["baseline"].calls_max == 2 * len(dev)
    assert by["trials"].calls_max == 30 and "capped by --budget 30" in by["trials"].note


def test_prices_come_from_litellms_bundled_table_offline():
    assert price("local", 1000, 100) == 0.0
    usd = price("gpt-4o-mini", 1_000_000, 0)
    assert usd is not None and 0.01 < usd < 10  # priced per million tokens
    assert price("openai/no-such-model-anywhere", 1000, 10) is None


def test_lmp_optimize_plan_prints_the_table_and_calls_no_model(tmp_path, capsys):
    from lmp.cli.main import main
    from tests.optimize import toy

    train = toy.write(tmp_path / "train.jsonl", toy.rows(12, 1))
    dev = toy.write(tmp_path / "dev.jsonl", toy.rows(8, 2))
    # No model is configured in tests (any call would fail): the plan must not need one.
    rc = main(["optimize", str(toy.FIXTURES / "toy.lmp"), "--train", train, "--dev", dev, "--metric", "exact_match",
               "--optimizer", "bootstrap", "--plan", "-o", str(tmp_path / "s.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "plan: bootstrap on 12 train / 8 dev rows" in out
    assert "baseline (dev before)" in out and "20–28" in out  # 8 + 4..12 + 8
    assert not (tmp_path / "s.json").exists()
