"""Inputs an inner predictor gets from its module's computation are shown as filled at run time."""

from __future__ import annotations

from lmp.project import load_text
from lmp.runtime.preview import render_preview
from lmp.runtime.preview_flow import runtime_inputs

SRC = '''\
retriever docs = bm25("corpus.jsonl", k: 2)

signature Answer {
  in  context: list[str]
  in  question: str
  in  n: int
  out answer: str
}

module Hops(question: str, context: list[str] = []) -> (answer: str) {
  let answer = Predict(Answer)
  for i in [1, 2] {
    context += docs(question)
  }
  a = answer(context: context, question: question, n: 3)
  return (answer: a.answer)
}

module Plain(question: str, context: list[str] = []) -> (answer: str) {
  let answer = Predict(Answer)
  return answer(context: context, question: question, n: 1)
}

example Hops {
  question: "q?"
  context: ["given"]
}

example Plain {
  question: "q?"
  context: ["given"]
}
'''


def test_runtime_inputs_reads_the_first_call():
    prog = load_text(SRC, "/tmp/flow.lmp").program
    computed, literals = runtime_inputs(prog, prog.predictors()["Hops.answer"])
    assert computed == {"context": "context += docs(question)"} and literals == {"n": 3}
    computed, literals = runtime_inputs(prog, prog.predictors()["Plain.answer"])
    assert computed == {} and literals == {"n": 1}  # an unchanged module input comes from the example


def test_preview_uses_the_example_only_where_the_run_does():
    prog = load_text(SRC, "/tmp/flow.lmp").program
    hops = render_preview(prog, "Hops.answer")
    user = hops.messages[-1]["content"]
    assert "<filled at run time: context += docs(question)>" in user and "given" not in user
    assert hops.filled_at_run_time == {"context": "context += docs(question)"}
    plain = render_preview(prog, "Plain.answer")
    assert "given" in plain.messages[-1]["content"] and plain.filled_at_run_time == {}
    # inputs given explicitly win over the marker
    forced = render_preview(prog, "Hops.answer", inputs={"context": ["mine"]})
    assert "mine" in forced.messages[-1]["content"] and forced.filled_at_run_time == {}
