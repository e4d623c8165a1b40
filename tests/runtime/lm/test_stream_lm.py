"""`LM.stream` over the loopback fake server: chunks as they are generated, then the complete response."""

from __future__ import annotations

import asyncio
import time

import pytest

from lmp.runtime.lm import DiskCache, FakeLM, FakeServer, History, LiteLLM
from lmp.runtime.lm.base import LMBadRequestError
from lmp.runtime.lm.constrain import Constraint

WORDS = " ".join(f"w{i}" for i in range(20))
ASK = [{"role": "user", "content": "say it"}]


def timed(stream) -> list[tuple[str, float]]:
    start = time.perf_counter()
    return [(delta, time.perf_counter() - start) for delta in stream]


def test_http_stream_yields_chunks_before_the_answer_is_complete():
    with FakeServer(responder=lambda body: WORDS) as srv:
        history = History()
        lm = LiteLLM("openai/fake", api_base=srv.url, history=history)
        lm.complete([{"role": "user", "content": "open the connection"}])  # client start-up is not streaming
        srv.token_delay = 0.03
        stream = lm.stream(ASK)
        chunks = timed(stream)
    assert len(chunks) == 20 and "".join(c for c, _ in chunks) == WORDS
    first, full = chunks[0][1], chunks[-1][1]
    # each chunk arrives when the server writes it (19 gaps of 30 ms), not all at the end
    assert full - first >= 0.9 * 19 * 0.03 and first < full / 2, (first, full)
    response = stream.response
    assert response.text == WORDS and response.finish_reason == "stop" and not response.cached
    # usage from the server's last chunk (stream_options.include_usage), not guessed
    assert response.prompt_tokens == 2 and response.completion_tokens == 20
    body = srv.completion_requests()[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    record = history.records()[-1]
    assert record.response == WORDS and record.completion_tokens == 20
    assert record.tags["streamed"] is True and 0 < record.tags["first_chunk_s"] < record.latency_s


def test_text_model_stream_drops_the_leading_space():
    with FakeServer(responder=lambda body: " hello there") as srv:
        lm = LiteLLM("text-completion-openai/fake", api_base=srv.url, model_type="text")
        stream = lm.stream(ASK)
        assert "".join(stream) == "hello there" and stream.response.text == "hello there"
        assert srv.completion_requests()[0].path.endswith("/v1/completions")


def test_cache_replays_a_streamed_answer_as_one_chunk(tmp_path):
    with FakeServer(responder=lambda body: WORDS, token_delay=0.001) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, cache=DiskCache(tmp_path / "c"), history=History())
        first = lm.stream(ASK)
        assert len(list(first)) == 20
        again = lm.stream(ASK)
        assert list(again) == [WORDS] and again.response.cached
        # the same entry serves a call that does not stream, and the other way round
        assert lm.complete(ASK).cached
        assert len(srv.completion_requests()) == 1


def test_a_stream_stopped_early_is_not_cached(tmp_path):
    with FakeServer(responder=lambda body: WORDS, token_delay=0.01) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, cache=DiskCache(tmp_path / "c"))
        stream = lm.stream(ASK)
        assert next(stream) == "w0 "
        stream.close()
        assert not lm.complete(ASK).cached  # a partial answer was never stored
        assert len(srv.completion_requests()) == 2


def test_constraint_is_sent_with_stream_and_a_refusal_falls_back_unconstrained():
    constraint = Constraint(adapter="chat", grammar='root ::= "w" [0-9]+')
    with FakeServer(responder=lambda body: "w1 w2") as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"server": "llama.cpp"}, history=History())
        assert "".join(lm.stream(ASK, constraint=constraint)) == "w1 w2"
        body = srv.completion_requests()[-1].body
        assert body["stream"] is True and body["grammar"] == constraint.grammar
        assert lm.history.records()[-1].constraint["kind"] == "grammar"
    with FakeServer(responder=lambda body: "w1 w2", reject_constraints=True) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"server": "llama.cpp"}, num_retries=0)
        with pytest.warns(UserWarning):
            assert "".join(lm.stream(ASK, constraint=constraint)) == "w1 w2"
        first, second = srv.completion_requests()
        assert "grammar" in first.body and "grammar" not in second.body and second.body["stream"] is True


def test_retries_before_the_first_chunk_and_errors_are_lm_errors():
    with FakeServer(responder=lambda body: "ok then", fail_first=1, fail_status=503) as srv:
        history = History()
        lm = LiteLLM("openai/fake", api_base=srv.url, history=history, backoff_base=0.001)
        assert "".join(lm.stream(ASK)) == "ok then"
        assert history.records()[-1].tags["attempts"] == 2
    with FakeServer(responder=lambda body: "x", fail_always=True, fail_status=400) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url)
        with pytest.raises(LMBadRequestError, match="rejected the request"):
            list(lm.stream(ASK))


def test_litellm_transport_streams_too():
    with FakeServer(responder=lambda body: WORDS, token_delay=0.02) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, transport="litellm", history=History())
        list(lm.stream([{"role": "user", "content": "warm up the import"}]))
        chunks = timed(lm.stream(ASK))
    assert "".join(c for c, _ in chunks) == WORDS and len(chunks) >= 10
    assert chunks[-1][1] - chunks[0][1] >= 0.9 * 19 * 0.02
    record = lm.history.records()[-1]
    assert record.completion_tokens == 20 and record.tags["streamed"] is True


def test_astream_and_the_default_one_chunk_stream():
    async def collect(lm):
        stream = lm.astream(ASK)
        parts = [d async for d in stream]
        return parts, stream.response

    with FakeServer(responder=lambda body: "a b c") as srv:
        parts, response = asyncio.run(collect(LiteLLM("openai/fake", api_base=srv.url)))
    assert parts == ["a ", "b ", "c"] and response.text == "a b c"
    fake = FakeLM(["x y"], history=History())
    assert list(fake.stream(ASK)) == ["x ", "y"] and len(fake.history.records()) == 1
