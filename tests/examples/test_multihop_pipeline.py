"""The multihop example's own program and data through `bootstrap`, with a scripted model that can do
the task: the intermediate query generator gets demos from passing traces (what the 135M model, which
fails every teacher run, cannot show; see examples/multihop/README.md)."""

from __future__ import annotations

import json
import re

import pytest
from ex_helpers import EXAMPLES

import lmp
from lmp.optimize.data import load_dataset
from lmp.optimize.metrics import resolve_metric
from lmp.optimize.optimizers import get_optimizer
from lmp.runtime import settings
from lmp.runtime.lm import FakeLM, History

HERE = EXAMPLES / "multihop"


def _section(text: str, name: str) -> str:
    m = re.search(rf"\[\[ ## {name} ## \]\]\n(.*?)(?:\n\n|\Z)", text, re.S)
    return m.group(1).strip() if m else ""


@pytest.fixture
def able_model(monkeypatch, tmp_path):
    """Writes the question as the query; answers with the gold answer when the context holds it."""
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    gold = {}
    for name in ("train.jsonl", "dev.jsonl"):
        for line in (HERE / name).read_text().splitlines():
            row = json.loads(line)
            gold[row["question"]] = row["answer"]

    def respond(messages):
        system, user = messages[0]["content"], messages[-1]["content"]
        question = _section(user, "question")
        if "`query`" in system:
            return f"[[ ## query ## ]]\n{question}\n\n[[ ## completed ## ]]"
        answer = gold.get(question, "")
        found = answer if answer and answer in _section(user, "context") else "unknown"
        return (f"[[ ## reasoning ## ]]\nThe context names it.\n\n[[ ## answer ## ]]\n{found}\n\n"
                "[[ ## completed ## ]]")

    lm = FakeLM(respond, history=History())
    settings.reset()
    settings.configure(lm=lm, history=lm.history)
    yield lm
    settings.reset()


def test_bootstrap_gives_the_query_generator_demos_from_passing_traces(able_model):
    handle = lmp.load(HERE / "multihop.lmp")
    mod = handle.program.modules["MultiHopQA"]
    train = load_dataset(HERE / "train.jsonl", mod)
    dev = load_dataset(HERE / "dev.jsonl", mod)
    state = get_optimizer("bootstrap").compile(handle, train, resolve_metric("contains:answer", handle), dev)
    gen = [d for d in state.predictors["MultiHopQA.gen_query"].demos if d.get("augmented")]
    assert gen, "no bootstrapped demos for the intermediate predictor"
    assert set(gen[0]["inputs"]) == {"context", "question"} and set(gen[0]["outputs"]) == {"query"}
    answer = state.predictors["MultiHopQA.answer"].demos
    assert any(d.get("augmented") for d in answer)
    # labeled demos carry the rows' hand-written rationale
    assert any("So the answer is" in str(d["outputs"].get("reasoning", "")) for d in answer if not d.get("augmented"))
