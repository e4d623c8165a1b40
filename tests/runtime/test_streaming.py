"""Partial typed values while a module runs (`prog.Module.stream()`), over fakes and the loopback server."""

from __future__ import annotations

import asyncio
import time

import pytest

import lmp
from lmp.ir.nodes import Field, Signature
from lmp.ir.types import INT, STR, ListType, LiteralType
from lmp.runtime.errors import LMOutputError, LmpRuntimeError
from lmp.runtime.lm import FakeLM, FakeServer, History, LiteLLM
from lmp.runtime.lm.stream import split_tokens
from lmp.runtime.streaming import ChatPartial, JSONPartial, Partial, partial_object
from lmp.runtime.values import Prediction
from tests.runtime.rt_helpers import chat

PROGRAM = '''\
type Verdict = "yes" | "no" | "yes-ish"

signature Answer {
  """Answer the question."""
  in  question: str
  out verdict: Verdict
  out score: float
  out answer: str
}

module QA(question: str) -> (verdict: Verdict, score: float, answer: str) {
  let ans = ChainOfThought(Answer)
  return ans(question: question)
}

module TwoStep(question: str) -> (answer: str) {
  let draft = Predict("question -> notes: list[str]")
  let write = Predict("question, notes: list[str] -> answer")
  d = draft(question: question)
  return write(question: question, notes: d.notes)
}
'''

REASONING = "The sky looks blue because air scatters short blue wavelengths of sunlight the most."
ANSWER = chat(reasoning=REASONING, verdict="yes", score="0.75", answer="Blue, from Rayleigh scattering.")


@pytest.fixture
def prog(tmp_path):
    path = tmp_path / "qa.lmp"
    path.write_text(PROGRAM)
    return lmp.load(path)


def feed_all(parser, text: str) -> list[dict]:
    seen = []
    for piece in split_tokens(text):
        parser.feed(piece)
        seen.append(parser.values())
    seen.append(parser.values(final=True))
    return seen


SIG = Signature("S", [Field("q", STR, None, "in")],
                [Field("reasoning", STR, None, "out"), Field("label", LiteralType(("pos", "positive", "neg")), None, "out"),
                 Field("n", INT, None, "out"), Field("tags", ListType(STR), None, "out")])


def test_chat_partial_text_grows_and_typed_fields_wait_until_complete():
    text = chat(reasoning="it is good and fine", label="positive", n="12", tags='["a", "b"]')
    seen = feed_all(ChatPartial(SIG), text)
    reasoning = [s["reasoning"] for s in seen if s["reasoning"]]
    assert reasoning[0] == "it" and reasoning[-1] == "it is good and fine"
    assert all(r.startswith(prev) for prev, r in zip(reasoning, reasoning[1:], strict=False))
    assert not any("[" in r for r in reasoning)  # a header being written never leaks into the text
    assert {s["label"] for s in seen} == {None, "positive"}
    assert {s["n"] for s in seen} == {None, 12} and {repr(s["tags"]) for s in seen} == {"None", "['a', 'b']"}
    # a number is only set once its section is closed by the next header
    first_n = next(i for i, s in enumerate(seen) if s["n"] is not None)
    assert "tags" in "".join(split_tokens(text)[:first_n + 1])
    assert seen[-1] == {"reasoning": "it is good and fine", "label": "positive", "n": 12, "tags": ["a", "b"]}


def test_chat_partial_literal_waits_while_another_member_could_grow_from_it():
    parser = ChatPartial(SIG)
    parser.feed("[[ ## reasoning ## ]]\nr\n\n[[ ## label ## ]]\npos")
    assert parser.values()["label"] is None  # could still become "positive"
    parser.feed("\n\n[[ ## n")
    assert parser.values()["label"] == "pos"
    parser = ChatPartial(SIG)
    parser.feed("[[ ## label ## ]]\nneg")
    assert parser.values()["label"] == "neg"  # no other member starts with "neg"


def test_chat_partial_invalid_values_stay_none():
    parser = ChatPartial(SIG)
    parser.feed(chat(reasoning="r", label="maybe", n="many", tags='["a"]'))
    assert parser.values(final=True) == {"reasoning": "r", "label": None, "n": None, "tags": ["a"]}


def test_json_partial_strings_grow_and_numbers_wait_for_a_delimiter():
    assert partial_object('{"reasoning": "it is', False) == ({}, "reasoning", "it is")
    assert partial_object('{"reasoning": "a\\"b\\u00', False) == ({}, "reasoning", 'a"b')
    assert partial_object('{"reasoning": "x", "n": 12', False) == ({"reasoning": "x"}, "n", None)
    assert partial_object('{"reasoning": "x", "n": 12', True) == ({"reasoning": "x", "n": 12}, None, None)
    assert partial_object('```json\n{"n": 1, "tags": ["a"', False) == ({"n": 1}, "tags", None)
    text = '{"reasoning": "it is good", "label": "positive", "n": 12, "tags": ["a", "b"]}'
    seen = feed_all(JSONPartial(SIG), text)
    assert {s["n"] for s in seen} == {None, 12} and {s["label"] for s in seen} == {None, "positive"}
    assert [s["reasoning"] for s in seen if s["reasoning"]][0].startswith("it")
    assert seen[-1] == {"reasoning": "it is good", "label": "positive", "n": 12, "tags": ["a", "b"]}


def test_module_stream_over_the_fake_server(prog):
    with FakeServer(responder=lambda body: ANSWER) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"server": "llama.cpp"}, history=History())
        lm.complete([{"role": "user", "content": "open the connection"}])  # client start-up is not streaming
        srv.token_delay = 0.04
        lmp.configure(lm=lm, cache=False)
        start = time.perf_counter()
        items = [(p, time.perf_counter() - start) for p in prog.QA.stream(question="why is the sky blue?")]
        body = srv.completion_requests()[-1].body
    final, t_final = items[-1]
    partials = [(p, t) for p, t in items[:-1]]
    assert isinstance(final, Prediction) and not isinstance(final, Partial)
    assert final.model_dump() == {
        "verdict": "yes", "score": 0.75, "answer": "Blue, from Rayleigh scattering."}
    assert all(isinstance(p, Partial) and not p.done for p, _ in partials)
    # reasoning streams first; typed fields are None until valid, then their final values
    first_text = next(t for p, t in partials if p.reasoning)
    first_typed = next(t for p, t in partials if p.verdict is not None)
    assert first_text < first_typed and first_text < t_final / 2
    assert {p.verdict for p, _ in partials} == {None, "yes"} and {p.score for p, _ in partials} == {None, 0.75}
    answers = [p.answer for p, _ in partials if p.answer]
    assert answers[0] == "Blue," and answers[-1] == "Blue, from Rayleigh scattering."
    assert all(p.predictor == "QA.ans" and p.attempt == "first" for p, _ in partials)
    assert partials[-1][0].call["reasoning"] == REASONING
    # constrained decoding still applies while streaming
    assert body["stream"] is True and "grammar" in body


def test_stream_runs_the_repair_ladder_and_ends_with_the_validated_value(prog, fake):
    lm = fake([chat(reasoning="hmm", verdict="perhaps", score="0.1", answer="?"), ANSWER])
    items = list(prog.QA.stream(question="q"))
    final = items[-1]
    assert final.verdict == "yes" and len(lm.calls) == 2
    attempts = [p.attempt for p in items[:-1]]
    assert attempts[0] == "first" and "repair" in attempts
    # the bad first answer never shows an invalid verdict; the repair starts its fields from None
    assert {p.verdict for p in items[:-1]} == {None, "yes"}
    first_repair = next(p for p in items[:-1] if p.attempt == "repair")
    assert first_repair.reasoning is None and first_repair.score is None


def test_stream_raises_the_run_error_after_its_partials(prog, fake):
    fake(default=chat(reasoning="hmm", verdict="perhaps", score="0.1", answer="?"))
    seen = []
    with pytest.raises(LMOutputError, match="verdict"):
        for p in prog.QA.stream(question="q"):
            seen.append(p)
    assert seen and all(isinstance(p, Partial) for p in seen)


def test_bad_inputs_raise_before_any_model_call(prog, fake):
    lm = fake([ANSWER])
    with pytest.raises(LmpRuntimeError, match="no input `nope`"):
        prog.QA.stream(nope=1)
    assert lm.calls == []


def test_json_adapter_streams_with_its_schema_constraint(prog):
    answer = ('{"reasoning": "' + REASONING + '", "verdict": "yes-ish", "score": 0.5, '
              '"answer": "Mostly blue."}')
    with FakeServer(responder=lambda body: answer, token_delay=0.005) as srv:
        lmp.configure(lm=LiteLLM("openai/fake", api_base=srv.url, params={"server": "ollama"}), cache=False)
        prog.predictors["QA.ans"].options["adapter"] = "json"  # (the language has no adapter option yet)
        items = list(prog.QA.stream(question="q"))
        body = srv.completion_requests()[-1].body
    assert body["stream"] is True and body["response_format"]["type"] == "json_schema"
    assert items[-1].model_dump() == {"verdict": "yes-ish", "score": 0.5, "answer": "Mostly blue."}
    partials = items[:-1]
    # "yes" is a prefix of "yes-ish": the verdict is never shown as "yes"
    assert {p.verdict for p in partials} == {None, "yes-ish"}
    texts = [p.reasoning for p in partials if p.reasoning]
    assert len(texts) > 5 and texts[-1] == REASONING


def test_multi_step_module_streams_each_call_and_the_returned_fields(prog, fake):
    fake([chat(notes='["n1", "n2"]'), chat(answer="A full answer.")])
    items = list(prog.TwoStep.stream(question="q"))
    partials = items[:-1]
    assert [p.predictor for p in partials][0] == "TwoStep.draft" and partials[-1].predictor == "TwoStep.write"
    assert any(p.call.get("notes") == ["n1", "n2"] for p in partials)
    assert all(p.answer is None for p in partials if p.predictor == "TwoStep.draft")
    assert [p.answer for p in partials if p.answer][-1] == "A full answer."
    assert items[-1].answer == "A full answer."


def test_astream_yields_the_same_items(prog, fake):
    fake(default=ANSWER)

    async def run():
        return [p async for p in prog.QA.astream(question="q")]

    items = asyncio.run(run())
    assert isinstance(items[-1], Prediction) and items[-1].score == 0.75
    assert any(isinstance(p, Partial) and p.reasoning for p in items)


def test_stopping_early_cancels_the_model_call(prog):
    with FakeServer(responder=lambda body: ANSWER, token_delay=0.05) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, history=History())
        lmp.configure(lm=lm, cache=False)
        stream = prog.QA.stream(question="q")
        for p in stream:
            if p.reasoning:
                break
        stream.close()
        deadline = time.monotonic() + 5
        while not lm.history.records() and time.monotonic() < deadline:
            time.sleep(0.02)
    # the call ended as soon as the next chunk came, long before the 60-odd chunks of the answer
    (record,) = lm.history.records()
    assert record.latency_s < 1.5 and "closed by the caller" in record.error and record.tags["cancelled"]


def test_a_fake_lm_without_stream_support_gives_one_chunk(prog):
    class Plain:
        def complete(self, messages, **params):
            return FakeLM([ANSWER]).complete(messages, **params)

    lmp.configure(lm=Plain(), cache=False)
    items = list(prog.QA.stream(question="q"))
    assert items[-1].answer == "Blue, from Rayleigh scattering."



def test_a_cached_answer_streams_as_one_chunk(prog, tmp_path):
    from lmp.runtime.lm import DiskCache

    with FakeServer(responder=lambda body: ANSWER, token_delay=0.002) as srv:
        lmp.configure(lm=LiteLLM("openai/fake", api_base=srv.url, cache=DiskCache(tmp_path / "cache")))
        first = list(prog.QA.stream(question="q"))
        again = list(prog.QA.stream(question="q"))
        assert len(srv.completion_requests()) == 1
    assert len(first) > 20
    # the call starts (every field None), the whole cached answer arrives at once, then the prediction
    assert len(again) == 3 and all(v is None for v in again[0].model_dump().values())
    assert again[1].model_dump() == again[2].model_dump() == first[-1].model_dump()
