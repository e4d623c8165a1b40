"""The request as cURL (lmp.lsp.playground.build_curl): the key is named, never shown; the body is the
request's own (constraint fields included); text-completion models get /completions and a prompt."""

from __future__ import annotations

import json

from lmp.lsp.playground import build_curl
from lmp.runtime.lm.litellm_lm import LiteLLM

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "it's 'quoted'"}]


def body_of(curl: str) -> dict:
    # the -d argument is single-quoted, with ' written as '\''
    payload = curl.split("-d '", 1)[1].rsplit("'", 1)[0].replace("'\\''", "'")
    return json.loads(payload)


def test_hosted_model_names_the_key_variable(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = build_curl(LiteLLM("openai/gpt-4o-mini"), MESSAGES, {"temperature": 0.0, "timeout": 30})
    assert out["curl"].startswith("curl 'https://api.openai.com/v1/chat/completions'")
    assert '-H "Authorization: Bearer $OPENAI_API_KEY"' in out["curl"]
    assert KEY not in out["curl"]
    body = body_of(out["curl"])
    assert body == {"temperature": 0.0, "model": "gpt-4o-mini", "messages": MESSAGES}  # timeout is a client option


def test_explicit_api_key_is_never_read():
    lm = LiteLLM("openai/served", api_base="https://llm.example.com/v1", api_key=KEY)
    out = build_curl(lm, MESSAGES, {"grammar": 'root ::= "a"', "max_tokens": 5})
    assert KEY not in out["curl"] and "$LMP_API_KEY" in out["curl"]
    assert body_of(out["curl"])["grammar"] == 'root ::= "a"'  # the constraint as it was sent


def test_loopback_server_gets_no_key_header_and_text_models_a_prompt():
    lm = LiteLLM("text-completion-openai/smollm2", api_base="http://127.0.0.1:8080/v1", model_type="text")
    out = build_curl(lm, MESSAGES, {"max_tokens": 5})
    assert out["curl"].startswith("curl 'http://127.0.0.1:8080/v1/completions'")
    assert "Authorization" not in out["curl"]
    body = body_of(out["curl"])
    assert body["model"] == "smollm2" and "User: it's 'quoted'" in body["prompt"] and "\nUser:" in body["stop"]


def test_other_providers_say_litellm_translates(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = build_curl(LiteLLM("anthropic/claude-3-5-haiku-latest"), MESSAGES, {})
    assert "$ANTHROPIC_API_KEY" in out["curl"] and "litellm" in out["note"]
