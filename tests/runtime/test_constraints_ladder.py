"""The predictor's call ladder with and without a constraint, and the derived token budget
(scripted FakeLM: no HTTP)."""

from __future__ import annotations

import pytest

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import FLOAT, STR, ListType, LiteralType
from lmp.runtime.adapters.constraints import compile_constraint
from lmp.runtime.errors import LMOutputError, LMTruncatedError
from lmp.runtime.lm import FakeLM, History
from lmp.runtime.lm.base import LMResponse
from lmp.runtime.predictors import PredictorRuntime, with_reasoning
from tests.runtime.rt_helpers import Host

SIG = Signature("Classify", [Field("text", STR, None, "in")],
                [Field("sentiment", LiteralType(("positive", "neutral", "negative")), None, "out"),
                 Field("score", FLOAT, None, "out")])
GOOD = "[[ ## sentiment ## ]]\nneutral\n\n[[ ## score ## ]]\n0.5\n\n[[ ## completed ## ]]"


def predictor(lm, kind: str = "Predict", **options) -> PredictorRuntime:
    return PredictorRuntime("M.classify", kind, SIG, None, options, host=Host(lm))


def test_constrained_call_sends_the_compiled_constraint_and_a_tight_budget():
    lm = FakeLM([GOOD], constrain="grammar", history=History())
    out = predictor(lm)({"text": "meh"})
    assert out.sentiment == "neutral" and out.score == 0.5
    params = lm.calls[0]["params"]
    c = compile_constraint("chat", SIG)
    assert params["constraint"] is c
    assert params["max_tokens"] == c.budget < 100  # headers, a literal and a number: a few dozen tokens
    assert lm.history.records()[0].constraint == {"kind": "grammar", "hash": c.digest()}


def test_chain_of_thought_constraint_includes_reasoning_and_its_budget():
    lm = FakeLM(["[[ ## reasoning ## ]]\nfine\n\n" + GOOD], constrain="grammar")
    predictor(lm, "ChainOfThought")({"text": "meh"})
    params = lm.calls[0]["params"]
    assert params["constraint"] is compile_constraint("chat", with_reasoning(SIG))
    assert params["max_tokens"] > 384  # the reasoning's budget comes on top


def test_user_max_tokens_wins_over_the_derived_budget():
    lm = FakeLM([GOOD], constrain="grammar")
    predictor(lm, max_tokens=77)({"text": "meh"})
    assert lm.calls[0]["params"]["max_tokens"] == 77


def test_a_constrained_failure_is_two_calls_and_the_repair_is_unconstrained():
    bad = "[[ ## sentiment ## ]]\nneutral\n\n[[ ## score ## ]]\nhigh\n\n[[ ## completed ## ]]"
    lm = FakeLM([bad, bad], constrain="grammar")
    with pytest.raises(LMOutputError) as err:
        predictor(lm)({"text": "meh"})
    assert len(lm.calls) == 2
    assert "constraint" in lm.calls[0]["params"] and "constraint" not in lm.calls[1]["params"]
    assert lm.calls[1]["params"]["tags"] == {"attempt": "repair"}
    assert lm.calls[1]["params"]["max_tokens"] == compile_constraint("chat", SIG).loose_budget
    assert "after a repair attempt;" in str(err.value)


def test_a_cut_off_constrained_answer_gets_twice_the_derived_budget_once_then_the_remedy():
    cut = LMResponse("[[ ## sentiment ## ]]\nneu", "fake", finish_reason="length")
    lm = FakeLM([cut, cut], constrain="grammar")
    with pytest.raises(LMTruncatedError) as err:
        predictor(lm)({"text": "meh"})
    budget = compile_constraint("chat", SIG).budget
    assert [c["params"]["max_tokens"] for c in lm.calls] == [budget, 2 * budget]
    assert lm.calls[1]["params"]["tags"] == {"attempt": "longer"} and "constraint" in lm.calls[1]["params"]
    assert f"cut off at max_tokens={2 * budget}; raise it (model param max_tokens" in str(err.value)
    assert err.value.max_tokens == 2 * budget and err.value.raw_output.endswith("neu")


def test_the_longer_attempt_finishes_an_answer_of_one_character_lines():
    # Seen once in 560 PayrollAgent calls: `#\n#\n#...` takes two tokens per unit of the grammar's text bound.
    cut = LMResponse("[[ ## sentiment ## ]]\nneutral\n\n[[ ## score ## ]]\n0.", "fake", finish_reason="length")
    lm = FakeLM([cut, GOOD], constrain="grammar")
    out = predictor(lm)({"text": "meh"})
    assert out.sentiment == "neutral" and len(lm.calls) == 2


def test_a_user_max_tokens_is_never_raised_a_cut_off_answer_stops_at_once():
    cut = LMResponse("[[ ## sentiment ## ]]\nneu", "fake", finish_reason="length")
    lm = FakeLM([cut], constrain="grammar")
    with pytest.raises(LMTruncatedError, match="cut off at max_tokens=40"):
        predictor(lm, max_tokens=40)({"text": "meh"})
    assert len(lm.calls) == 1


def test_a_cut_off_answer_whose_prefix_parses_is_not_taken_silently():
    # A text field cut short parses ("a summary that stops mid-"), but it is not the model's answer.
    sig = Signature("Sum", [Field("text", STR, None, "in")], [Field("summary", STR, None, "out")])
    cut = LMResponse("[[ ## summary ## ]]\n#\n#\n#\n#", "fake", finish_reason="length")
    lm = FakeLM([cut], constrain="grammar")
    rt = PredictorRuntime("M.sum", "Predict", sig, None, {"max_tokens": 12}, host=Host(lm))
    with pytest.raises(LMTruncatedError) as err:
        rt({"text": "x"})
    assert err.value.field == "summary" and "may be incomplete" in str(err.value)


def test_unconstrained_cut_off_after_the_ladder_still_names_max_tokens():
    cut = LMResponse("I will now explain at length", "fake", finish_reason="length")
    lm = FakeLM([cut, cut, cut])
    with pytest.raises(LMTruncatedError, match="cut off at max_tokens=") as err:
        predictor(lm)({"text": "meh"})
    assert len(lm.calls) == 3  # unconstrained: chat, repair, JSON adapter
    assert "not constrained to the output types" in str(err.value) and "`constrain`" in str(err.value)


def test_react_step_constraint_ties_arguments_to_the_chosen_tool():
    class ToolHost(Host):
        def tool_specs(self, names):
            from lmp.runtime.predictors import ToolSpec

            return [ToolSpec("lookup", "find a fact", [("topic", "str"), ("limit", "int")], lambda a: "42")]

    sig = Signature("Ask", [Field("question", STR, None, "in")], [Field("answer", STR, None, "out")])
    step = ("[[ ## next_thought ## ]]\ndone\n\n[[ ## next_tool_name ## ]]\nfinish\n\n"
            "[[ ## next_tool_args ## ]]\n{}\n\n[[ ## completed ## ]]")
    final = "[[ ## reasoning ## ]]\nok\n\n[[ ## answer ## ]]\nforty-two\n\n[[ ## completed ## ]]"
    lm = FakeLM([step, final], constrain="grammar")
    rt = PredictorRuntime("M.act", "ReAct", sig, None, {"tools": ["lookup"]}, host=ToolHost(lm))
    assert rt({"question": "q"}).answer == "forty-two"
    grammar = lm.calls[0]["params"]["constraint"].grammar
    assert '"lookup"' in grammar and '"\\"topic\\":"' in grammar and '",\\"limit\\":"' in grammar
    assert lm.calls[1]["params"]["constraint"].grammar.startswith('root ::= "[[ ## reasoning ## ]]')


def test_list_outputs_get_json_in_their_section():
    sig = Signature("S", [Field("text", STR, None, "in")], [Field("tags", ListType(STR), None, "out")])
    lm = FakeLM(['[[ ## tags ## ]]\n["a","b"]\n\n[[ ## completed ## ]]'], constrain="grammar")
    out = PredictorRuntime("M.t", "Predict", sig, None, {}, host=Host(lm))({"text": "x"})
    assert out.tags == ["a", "b"]
