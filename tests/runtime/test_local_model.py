"""End to end on the embedded local model (SmolLM2 through xllamacpp): no fakes anywhere.

The model is tiny, so these tests check what the runtime guarantees (typed, parsed outputs; the
retrieval flow), not the model's accuracy.
"""

from __future__ import annotations

import pytest

import lmp
from lmp.runtime.lm.local import INSTALL_HINT, find_local_model
from tests.runtime.rt_helpers import FIXTURES

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(find_local_model() is None,
                       reason=f"the embedded local model is not installed ({INSTALL_HINT})"),
]


@pytest.fixture(autouse=True)
def real_model(monkeypatch):
    monkeypatch.delenv("LMP_MODEL_DEFAULT", raising=False)  # undo conftest's fail-fast fake


def test_classification_returns_one_of_its_labels():
    prog = lmp.load(FIXTURES / "local" / "sentiment.lmp")  # sentiment.state.json beside it: 3 demos
    assert len(prog.predictors["Classify.classify"].demos) == 3
    for review in ("An awful, dull movie. I hated it.", "A delightful film with a brilliant cast."):
        out = prog.Classify(review=review)
        assert out.sentiment in ("positive", "negative")


def test_multi_hop_rag_over_a_local_corpus():
    prog = lmp.load(FIXTURES / "local" / "rag.lmp")
    out = prog.MultiHopRAG(question="In which city was the engineer whose company designed the Eiffel Tower born?")
    assert isinstance(out.answer, str) and out.answer.strip()
    assert len(out.context) == 4
    assert any("Gustave Eiffel" in c for c in out.context)
    calls = [r for r in lmp.history() if r.predictor and r.predictor.startswith("MultiHopRAG.")]
    assert {r.predictor for r in calls} >= {"MultiHopRAG.gen_query", "MultiHopRAG.answer"}
