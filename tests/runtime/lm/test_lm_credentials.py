"""Missing credentials are named before any request, and auth errors are never retried."""

from __future__ import annotations

import time

import pytest

from lmp.runtime.lm import FakeServer, LiteLLM, LMAuthError
from lmp.runtime.lm.litellm_lm import import_litellm, map_error

MSGS = [{"role": "user", "content": "hello"}]
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(("model", "variable"), [("openai/gpt-4o-mini", "OPENAI_API_KEY"),
                                                 ("anthropic/claude-3-5-sonnet-20240620", "ANTHROPIC_API_KEY"),
                                                 ("groq/llama3-8b-8192", "GROQ_API_KEY")])
def test_hosted_model_without_key_fails_before_any_request(no_keys, monkeypatch, model, variable):
    litellm = import_litellm()

    def no_request(*args: object, **kwargs: object) -> None:
        raise AssertionError("a request was attempted without a key")

    monkeypatch.setattr(litellm, "completion", no_request)
    lm = LiteLLM(model, num_retries=3, backoff_base=5.0)  # a retry would take seconds
    start = time.perf_counter()
    with pytest.raises(LMAuthError) as info:
        lm.complete(MSGS)
    assert time.perf_counter() - start < 2
    msg = str(info.value)
    assert f"needs an API key and none is set: set the environment variable {variable}" in msg
    assert "No request was sent" in msg and lm.stats["attempts"] == 0


def test_key_set_later_is_picked_up(no_keys, monkeypatch):
    lm = LiteLLM("openai/gpt-4o-mini")
    with pytest.raises(LMAuthError):
        lm._check_credentials("openai/gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
    lm._check_credentials("openai/gpt-4o-mini")  # no error once the variable is set


def test_api_key_param_or_api_base_skips_the_check(no_keys):
    LiteLLM("openai/gpt-4o-mini", api_key="sk-test-not-a-secret")._check_credentials("openai/gpt-4o-mini")
    LiteLLM("openai/my-model", api_base="http://127.0.0.1:9/v1")._check_credentials("openai/my-model")


@pytest.mark.parametrize("transport", ["auto", "litellm"])
def test_server_401_without_a_key_is_one_request_naming_the_variable(no_keys, monkeypatch, transport):
    monkeypatch.setenv("LMP_TRANSPORT", transport)
    with FakeServer(fail_always=True, fail_status=401) as server:
        lm = LiteLLM("openai/fake", api_base=server.url, num_retries=3, backoff_base=5.0)
        with pytest.raises(LMAuthError) as info:
            lm.complete(MSGS)
        assert len(server.completion_requests()) == 1  # never retried
    assert "OPENAI_API_KEY" in str(info.value) and "HTTP 401" in str(info.value)


def test_missing_credentials_reported_as_500_is_an_auth_error():
    litellm = import_litellm()
    exc = litellm.InternalServerError(
        "OpenAIException - Missing credentials. Please pass an `api_key`, or set the `OPENAI_API_KEY` "
        "environment variable.", llm_provider="openai", model="gpt-4o-mini")
    mapped = map_error(exc, "openai/gpt-4o-mini", None, 60)
    assert isinstance(mapped, LMAuthError) and "OPENAI_API_KEY" in str(mapped)
