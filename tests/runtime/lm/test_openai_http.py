"""The direct OpenAI-compatible transport: what it sends, what it never imports, how it fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from lmp.runtime.lm import FakeServer, LiteLLM, LMBadRequestError, LMError
from lmp.runtime.lm.litellm_lm import http_error
from lmp.runtime.lm.openai_http import HTTPFailure, answer_text, served_name, usage_tokens

MSGS = [{"role": "user", "content": "hi"}]


def test_local_server_calls_never_import_litellm(tmp_path):
    # litellm's import costs seconds; a run against a local OpenAI-compatible server must not pay it.
    script = textwrap.dedent(
        """
        import sys
        from lmp.runtime.lm import FakeServer, LiteLLM
        with FakeServer() as srv:
            r = LiteLLM("openai/fake", api_base=srv.url).complete([{"role": "user", "content": "x"}])
        print(r.text, "litellm" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["echo:", "x", "False"]


def test_request_body_is_the_openai_wire_format():
    with FakeServer() as srv:
        lm = LiteLLM("openai/my-model", api_base=srv.url, params={"temperature": 0.3}, timeout=7)
        assert lm.uses_http()
        lm.complete(MSGS, max_tokens=5, seed=1)
        req = srv.completion_requests()[0]
    # the provider prefix is litellm's spelling, not the served name; client options stay out of the body
    assert req.body == {"model": "my-model", "messages": MSGS, "temperature": 0.3, "max_tokens": 5, "seed": 1}


def test_transport_litellm_is_honoured_and_bad_transport_is_refused(monkeypatch):
    assert not LiteLLM("openai/x", api_base="http://127.0.0.1:1/v1", transport="litellm").uses_http()
    assert not LiteLLM("openai/gpt-4o-mini").uses_http()  # hosted: no api_base, litellm's job
    assert not LiteLLM("anthropic/claude-x", api_base="http://127.0.0.1:1").uses_http()
    monkeypatch.setenv("LMP_TRANSPORT", "litellm")
    assert not LiteLLM("openai/x", api_base="http://127.0.0.1:1/v1").uses_http()
    with pytest.raises(ValueError, match="transport must be one of"):
        LiteLLM("openai/x", transport="carrier-pigeon")


def test_model_params_choose_the_transport():
    from lmp.runtime.lm import make_lm

    lm = make_lm("openai/x", params={"api_base": "http://127.0.0.1:1/v1", "transport": "litellm"})
    assert isinstance(lm, LiteLLM) and not lm.uses_http() and "transport" not in lm.params


def test_retry_after_header_sets_the_backoff():
    slept: list[float] = []
    with FakeServer(fail_first=1, fail_status=429) as srv:
        srv.retry_after = "3"
        lm = LiteLLM("openai/fake", api_base=srv.url, sleep=slept.append)
        assert lm.complete(MSGS).text == "echo: hi"
    assert slept == [3.0]


def test_context_overflow_and_protocol_errors_read_like_the_litellm_path():
    overflow = HTTPFailure("status", "HTTP 400: the request exceeds the available context size", 400)
    err = http_error(overflow, "openai/m", "http://127.0.0.1:9/v1", 60)
    assert isinstance(err, LMBadRequestError) and "too long for model 'openai/m'" in str(err)
    junk = http_error(HTTPFailure("protocol", "the server's answer is not JSON: '<html>'", 502), "openai/m", None, 60)
    assert type(junk) is LMError and junk.status_code == 502 and "not JSON" in str(junk)


def test_non_json_answer_is_a_clear_error_after_retries():
    with FakeServer(invalid_json=True) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, num_retries=1, backoff_base=0.001)
        with pytest.raises(LMError, match="not JSON") as info:
            lm.complete(MSGS)
        assert info.value.status_code == 502 and lm.stats["attempts"] == 2


def test_answer_readers_tolerate_odd_but_valid_shapes():
    assert answer_text({"choices": []}, chat=True) == ""
    assert answer_text({"choices": [{"message": {"content": None}}]}, chat=True) == ""
    assert answer_text({"choices": [{"text": " yes"}]}, chat=False) == " yes"
    assert usage_tokens({"usage": None}) == (0, 0)
    assert usage_tokens({"usage": {"prompt_tokens": 3, "completion_tokens": 2}}) == (3, 2)
    assert served_name("text-completion-openai/base") == "base" and served_name("gpt-x") == "gpt-x"
