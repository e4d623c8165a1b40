from __future__ import annotations

import asyncio

import pytest

from lmp.runtime.lm import FakeLM, History, LMError, LMRateLimitError


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]


def test_sequence_answers_in_order_then_default():
    lm = FakeLM(["a", "b"], default="z")
    assert [lm.complete(user("q")).text for _ in range(3)] == ["a", "b", "z"]
    assert len(lm.calls) == 3


def test_sequence_exhausted_raises_clear_error():
    lm = FakeLM(["only"])
    lm.complete(user("q"))
    with pytest.raises(LMError, match="ran out of scripted answers"):
        lm.complete(user("q"))


def test_dict_keyed_by_substring_of_last_user_message():
    lm = FakeLM({"capital": "Paris", "color": "blue"})
    assert lm.complete(user("What is the capital of France?")).text == "Paris"
    assert lm.complete(user("Favourite color?")).text == "blue"
    with pytest.raises(LMError, match="no scripted answer"):
        lm.complete(user("unrelated"))


def test_callable_answers_and_token_counts():
    lm = FakeLM(lambda msgs: msgs[-1]["content"].upper())
    r = lm.complete(user("hello big world"), temperature=0)
    assert r.text == "HELLO BIG WORLD"
    assert r.prompt_tokens == 4  # "sys" + 3 words
    assert r.completion_tokens == 3
    assert lm.calls[0]["params"] == {"temperature": 0}
    assert lm.last_messages[-1]["content"] == "hello big world"


def test_scripted_errors_come_first_and_exceptions_in_sequence():
    lm = FakeLM(["ok", LMError("boom"), "after"], errors=[LMRateLimitError("429")])
    with pytest.raises(LMRateLimitError):
        lm.complete(user("q"))
    assert lm.complete(user("q")).text == "ok"
    with pytest.raises(LMError, match="boom"):
        lm.complete(user("q"))
    assert lm.complete(user("q")).text == "after"


def test_history_records_calls_and_errors():
    h = History()
    lm = FakeLM(["x"], history=h)
    lm.complete(user("one two"))
    with pytest.raises(LMError):
        lm.complete(user("again"))
    recs = h.records()
    assert [r.response for r in recs] == ["x", None]
    assert recs[1].error and "ran out" in recs[1].error
    assert h.totals().calls == 2 and h.totals().errors == 1


def test_acomplete_and_call_shortcut():
    lm = FakeLM(default="hi")
    assert asyncio.run(lm.acomplete(user("q"))).text == "hi"
    assert lm("plain string").text == "hi"
    assert lm.calls[-1]["messages"] == [{"role": "user", "content": "plain string"}]


def test_history_gets_predictor_and_tags():
    h = History()
    FakeLM(default="x", history=h).complete(user("q"), predictor="QA.answer", tags={"step": 1}, temperature=0)
    rec = h.records()[0]
    assert rec.predictor == "QA.answer" and rec.tags == {"step": 1} and rec.params == {"temperature": 0}
