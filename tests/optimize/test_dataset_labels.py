"""Dataset rows may label a predictor's own fields (a rationale for ChainOfThought) for its demos."""

from __future__ import annotations

import pytest

import lmp
from lmp.optimize.data import DatasetError, load_dataset
from lmp.optimize.metrics import resolve_metric
from lmp.optimize.optimizers import get_optimizer

PROGRAM = '''
signature Answer {
  in  question: str
  out answer: str
}
signature Rate {
  in  answer: str
  out score: int
}
module QA(question: str) -> (answer: str) {
  let think = ChainOfThought(Answer)
  let rate = Predict(Rate)
  a = think(question: question)
  r = rate(answer: a.answer)
  return (answer: a.answer)
}
'''


def test_predictor_fields_are_labels_and_complete_labeled_demos(tmp_path):
    handle = lmp.loads(PROGRAM)
    mod = handle.program.modules["QA"]
    rows = tmp_path / "train.jsonl"
    rows.write_text(
        '{"question": "2+2?", "reasoning": "Two and two make four.", "answer": "4", "score": 5}\n'
        '{"question": "3+3?", "reasoning": "Three and three make six.", "answer": "6"}\n'
    )
    train = load_dataset(rows, mod)
    assert train[0].inputs == {"question": "2+2?"} and train[0].gold == {"answer": "4"}
    assert train[0].labels == {"reasoning": "Two and two make four.", "score": 5}

    state = get_optimizer("labeled", k=2).compile(handle, train, resolve_metric("exact_match", handle))
    think_demos = state.predictors["QA.think"].demos
    assert {"inputs": {"question": "2+2?"}, "outputs": {"reasoning": "Two and two make four.", "answer": "4"}} in [
        {"inputs": d["inputs"], "outputs": d["outputs"]} for d in think_demos
    ]
    rate_demos = state.predictors["QA.rate"].demos
    assert [d["outputs"] for d in rate_demos] == [{"score": 5}]  # only the row that labels `score`


def test_labels_are_type_checked_and_unknown_keys_name_the_label_fields(tmp_path):
    mod = lmp.loads(PROGRAM).program.modules["QA"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "score": "high"}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:1: label `score` \(int\)"):
        load_dataset(bad, mod)
    bad.write_text('{"question": "q", "rationale": "x"}\n')
    with pytest.raises(DatasetError, match=r"`rationale` is not an input or output of QA .*labels: reasoning, score"):
        load_dataset(bad, mod)


def test_rows_without_labels_keep_their_checkpoint_keys(tmp_path):
    # Keys name bootstrapped traces in checkpoints; adding the labels feature must not orphan them.
    from lmp.optimize.data import Example

    assert Example({"q": "x"}, {"a": "y"}).key == Example({"q": "x"}, {"a": "y"}, labels={}).key
    assert Example({"q": "x"}, {"a": "y"}).key != Example({"q": "x"}, {"a": "y"}, labels={"r": "z"}).key
