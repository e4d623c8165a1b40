"""Proposals that are not instructions are rejected with a reason; the proposer asks again within its budget."""

from __future__ import annotations

import pytest

from lmp.optimize.context import OptimizeContext, Reporter
from lmp.optimize.optimizers import get_optimizer
from lmp.optimize.proposal_check import check_instruction, summarize
from lmp.optimize.propose import PROPOSE, propose
from lmp.runtime import settings
from lmp.runtime.lm import FakeLM, History
from tests.optimize import toy
from tests.optimize.opt_helpers import setup

REVIEW = {"review": "A slow and tedious film whose lead actor never once convinces anyone in the audience of anything"}


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   ...  ", "empty"),
    ("The code for this project is provided below: ```python def generate_tips(x): return x", "code"),
    ("def classify(review):\n    return 'positive' if 'good' in review else 'negative'", "code"),
    ('{"sentiment": "positive"}', "schema"),
    ('Output must match {"type": "object", "properties": {"sentiment": {"enum": ["positive"]}}}', "schema"),
    ("[****PROPOSED] | A: ...", "markup"),
    ("[[ ## proposed_instruction ## ]] Classify the review.", "markup"),
    # GEPA's reflection on the 135M model (bench/optimize_vs_dspy.py, 2026-12-03) "proposed" its own prompt's
    # layout, and that candidate won the dev set by one row.
    ("#[#task] #[#current_instruction] #[#examples_with_feedback] #[#new_instruction]", "markup"),
    ("task current_instruction examples_with_feedback new_instruction examples_with_feedback", "markup"),
    ("Classify", "too_short"),
    ("Say: A slow and tedious film whose lead actor never once convinces anyone", "echo"),
    ("Classify the sentiment. " * 60, "too_long"),
    ("Classify the sentiment of the movie review.", "same"),
])
def test_non_instructions_are_rejected_with_their_reason(text, reason):
    v = check_instruction(text, current="Classify the sentiment of the movie review.", shown=[REVIEW])
    assert not v.ok and v.reason == reason, (text, v)
    assert v.message  # a sentence the run can show


@pytest.mark.parametrize("text", [
    "Decide whether the review is positive or negative; answer with the label only.",
    "You are a film critic. Read the review, weigh praise against complaints, then give its sentiment.",
    "Checklist: 1. find the reviewer's overall verdict; 2. ignore plot summary; 3. answer `positive` or `negative`.",
    'Label the review "positive" when the reviewer recommends the film, otherwise "negative".',
    "Read the review and set selected_tool to the tool that answers it; explain nothing else.",
])
def test_plain_instructions_of_any_style_pass(text):
    v = check_instruction(text, current="Classify the sentiment of the movie review.", shown=[REVIEW])
    assert v.ok, v


def test_the_proposer_asks_again_after_a_rejection_and_logs_why():
    answers = iter([toy.chat(proposed_instruction="```python\nprint('positive')\n```"),
                    toy.chat(proposed_instruction="Decide the polarity of the text, answering pos or neg.")])
    lm = FakeLM(lambda m: next(answers), history=History())
    log: list[dict] = []
    out = propose(lm, PROPOSE, "Label it.", n=1, examples=[{"inputs": REVIEW, "outputs": {}}], log=log)
    assert out == ["Decide the polarity of the text, answering pos or neg."]
    assert [(e["ok"], e["reason"]) for e in log] == [(False, "code"), (True, None)]
    assert len(lm.calls) == 2
    assert summarize(log) == "2 proposed, 1 accepted, 1 rejected (code 1)"


def test_retries_are_bounded_per_slot_and_stop_when_the_budget_is_spent():
    lm = FakeLM(lambda m: toy.chat(proposed_instruction='{"label": "pos"}'), history=History())
    log: list[dict] = []
    assert propose(lm, PROPOSE, "Label it.", n=3, examples=[], retries=2, log=log) == []
    assert len(lm.calls) == 3 * 3 and {e["reason"] for e in log} == {"schema"}
    lm2 = FakeLM(lambda m: toy.chat(proposed_instruction='{"label": "pos"}'), history=History())
    spent = {"n": 0}

    def stop() -> bool:
        spent["n"] += 1
        return spent["n"] > 4

    propose(lm2, PROPOSE, "Label it.", n=3, examples=[], retries=2, stop=stop)
    assert len(lm2.calls) == 4


@pytest.mark.parametrize("name", ["mipro", "copro"])
def test_junk_proposals_never_become_candidates_and_the_run_says_so(name, tmp_path, models):
    task, _ = models

    def junk_then_good(messages):
        tip = toy.sections(messages[-1]["content"]).get("tip", "")
        if "Proposal 2 " in tip:
            return toy.chat(proposed_instruction="The code is below: ```python def label(t): return 'pos'```")
        if "Proposal 4 " in tip:
            return toy.chat(proposed_instruction="[****PROPOSED] | A: ...")
        return toy.proposal_answer(messages)

    settings.configure(lm=task, history=task.history, lms={"prompt": FakeLM(junk_then_good, model="p",
                                                                              history=task.history)})
    handle, train, dev, metric = setup(tmp_path)
    lines: list[str] = []
    ctx = OptimizeContext(prompt_model="prompt", reporter=Reporter(quiet=True))
    ctx.reporter.info = lines.append  # type: ignore[method-assign]
    settings_ = {"num_trials": 4} if name == "mipro" else {"breadth": 5, "depth": 1}
    state = get_optimizer(name, **settings_).compile(handle, train, metric, dev, ctx=ctx)
    rejected = [e for e in ctx.proposals if not e["ok"]]
    assert {e["reason"] for e in rejected} >= {"code", "markup"}
    assert any("rejected: looks like code" in line for line in lines)
    assert any("rejected" in line and "proposed" in line and "accepted" in line for line in lines)
    # Nothing rejected was ever tried: every instruction a trial used passed the checks.
    if name == "copro":  # copro tries every accepted proposal; mipro samples a few
        assert "polarity" in (state.predictors["Classify.classify"].instructions or "")
    assert state.predictors["Classify.classify"].instructions is None or \
        check_instruction(state.predictors["Classify.classify"].instructions).ok
    tried = {c["messages"][0]["content"].split("your objective is:")[-1] for c in task.calls}
    assert not any("```" in t or "PROPOSED" in t for t in tried)
