from __future__ import annotations

import pytest

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import FLOAT, STR, LiteralType
from lmp.runtime.errors import LMOutputError
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.predictors import PredictorRuntime, majority
from lmp.runtime.values import Prediction
from tests.runtime.rt_helpers import Host, chat, load

SIG = Signature("Judge", [Field("text", STR)], [Field("label", LiteralType(("yes", "no")), None, "out"),
                                                 Field("p", FLOAT, None, "out")], "Judge it.")


def predictor(lm, kind="Predict", **options) -> PredictorRuntime:
    return PredictorRuntime("M.judge", kind, SIG, None, options, host=Host(lm))


def test_predict_parses_typed_outputs(fake):
    lm = fake([chat(label="YES", p="0.7")])
    out = predictor(lm)({"text": "t"})
    assert isinstance(out, Prediction) and out.label == "yes" and out.p == 0.7
    params = lm.calls[0]["params"]
    assert params["predictor"] == "M.judge" and params["stop"] == ["[[ ## completed ## ]]"]
    # No max_tokens set: derived from the types (a 2-way literal and a float need few tokens).
    assert params["max_tokens"] == predictor(lm).constraint(SIG).loose_budget < 200


def test_chain_of_thought_adds_reasoning_first(fake):
    lm = fake([chat(reasoning="because", label="no", p=0.1)])
    out = predictor(lm, "ChainOfThought")({"text": "t"})
    assert out.reasoning == "because" and out.label == "no"
    system = lm.calls[0]["messages"][0]["content"]
    assert system.index("`reasoning`") < system.index("`label`")


def test_repair_attempt_shows_the_error(fake):
    lm = fake(["[[ ## label ## ]]\nmaybe\n[[ ## p ## ]]\n0.5", chat(label="no", p=0.5)])
    out = predictor(lm)({"text": "t"})
    assert out.label == "no" and len(lm.calls) == 2
    repair = lm.calls[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "[[ ## label ## ]]\nmaybe\n[[ ## p ## ]]\n0.5"}
    assert "the field `label`" in repair[-1]["content"] and "'maybe' is not one of" in repair[-1]["content"]


def test_json_adapter_fallback(fake):
    lm = fake(["garbage", "still garbage", '{"label": "yes", "p": 0.9}'])
    assert predictor(lm)({"text": "t"}).model_dump() == {"label": "yes", "p": 0.9}
    assert "JSON object" in lm.calls[2]["messages"][-1]["content"]
    assert lm.calls[2]["params"]["tags"] == {"attempt": "json"}


def test_lm_output_error_carries_field_type_and_raw(fake):
    lm = fake(["[[ ## label ## ]]\nyes\n[[ ## p ## ]]\nlots"] * 2 + ['{"label": "yes", "p": "lots"}'])
    with pytest.raises(LMOutputError) as err:
        predictor(lm)({"text": "t"})
    e = err.value
    assert e.field == "p" and e.expected_type == "float" and "lots" in e.raw_output
    assert "could not be parsed into field `p` (float)" in str(e)


def test_majority():
    assert majority(["Yes", "no", "yes "]) == "Yes"
    preds = [Prediction(answer="A"), Prediction(answer="b"), Prediction(answer="B")]
    assert majority(preds).answer == "b"
    assert majority([1, 2, 2]) == 2


def test_state_instructions_and_demos_reach_the_prompt(fake):
    prog = load("classify.lmp")
    state = {"predictors": {"Classify.classify": {
        "instructions": "Pick the best category.",
        "demos": [{"inputs": {"event": "Crash of 1929"}, "outputs": {"category": "Economic Events", "confidence": 0.9}}],
    }}}
    lm = fake([chat(category="Economic Events", confidence=0.8)])
    out = Interpreter(prog, state).run("Classify", event="Oil shock")
    assert out.category == "Economic Events"
    msgs = lm.calls[0]["messages"]
    assert msgs[0]["content"].rstrip().endswith("Pick the best category.")
    assert msgs[1]["content"] == "[[ ## event ## ]]\nCrash of 1929"
    assert msgs[2]["content"].startswith("[[ ## category ## ]]\nEconomic Events")
