"""Multi-objective selection (--objective) for gepa and mipro."""

from __future__ import annotations

import json

import pytest

from lmp.optimize.budget import BudgetSpec
from lmp.optimize.objectives import Objective, ObjectiveError, Usage, parse_objective
from tests.optimize.test_gepa import fake, run  # noqa: F401 - the fixture


def test_parse_objective():
    assert parse_objective(None).is_default
    assert parse_objective("accuracy=1,prompt_tokens=-0.001").weights == {"accuracy": 1.0, "prompt_tokens": -0.001}
    assert parse_objective({"latency": -2}).weights == {"latency": -2.0}
    with pytest.raises(ObjectiveError, match="NAME=WEIGHT"):
        parse_objective("accuracy")
    with pytest.raises(ObjectiveError, match="not a number"):
        parse_objective("accuracy=high")


def test_value_is_the_weighted_sum_of_per_row_means():
    obj = Objective({"accuracy": 1.0, "prompt_tokens": -0.01, "completion_tokens": -0.1, "latency": -1.0})
    usage = Usage(rows=4, prompt_tokens=400, completion_tokens=40, latency_s=2.0)
    assert obj.value(0.75, usage) == pytest.approx(0.75 - 1.0 - 1.0 - 0.5)
    assert Objective({"brevity": 2.0}).value(0.0, None, {"brevity": 0.25}) == 0.5
    with pytest.raises(ObjectiveError, match="no field `brevity`"):
        Objective({"brevity": 1.0}).value(1.0)


def test_gepa_token_weight_can_outweigh_accuracy(tmp_path, fake):  # noqa: F811
    plain = run(tmp_path, "gepa", budget=BudgetSpec(calls=60), out="plain.json")
    assert plain.after == 1.0
    # The feedback's fix makes every prompt longer; weighted heavily enough, tokens win over accuracy.
    costly = run(tmp_path, "gepa", budget=BudgetSpec(calls=60), out="costly.json",
                 settings_={"objective": "accuracy=1,prompt_tokens=-1"})
    data = json.loads((tmp_path / "costly.json").read_text())
    lin = data["lineage"]
    assert len(lin["candidates"]) >= 2  # the fix was still found and scored ...
    assert lin["chosen"] == 0 and costly.after == 0.0  # ... but the shorter prompt was chosen
    seed, child = lin["candidates"][0], lin["candidates"][1]
    assert child["dev_score"] == 1.0 and child["objective"] < seed["objective"]
    assert data["scores"]["objective"] == "accuracy=1,prompt_tokens=-1"


def test_mipro_token_weight_prefers_fewer_demos(tmp_path, fake):  # noqa: F811
    opts = {"num_trials": 6, "num_candidates": 4}
    plain = run(tmp_path, "mipro", settings_=opts, out="plain.json")
    lean = run(tmp_path, "mipro", settings_={**opts, "objective": "accuracy=1,prompt_tokens=-1"}, out="lean.json")
    # Every candidate scores 0 here, so only the prompt's length separates them under the objective.
    assert plain.state.predictors["Loud.say"].demos
    assert not lean.state.predictors["Loud.say"].demos
