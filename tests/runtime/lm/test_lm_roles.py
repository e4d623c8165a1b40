from __future__ import annotations

import sys

import pytest

from lmp.runtime.lm import FakeLM, LiteLLM, make_lm, resolve_model

DECLARED = {"fast": ("openai/gpt-4o-mini", {"temperature": 0, "api_base": "http://declared/v1"})}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lmp.models]\nfast = "anthropic/claude-x"\nsmart = { model = "openai/big", max_tokens = 50 }\n'
    )
    sub = tmp_path / "pkg" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)  # the *nearest* pyproject.toml is found by walking up
    for var in ("LMP_MODEL_FAST", "LMP_MODEL_SMART", "LMP_API_BASE_FAST", "LMP_MODEL_DEFAULT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_precedence_cli_env_pyproject_declared_default(project, monkeypatch):
    assert resolve_model("fast", DECLARED, {}) == ("anthropic/claude-x", {"temperature": 0})
    monkeypatch.setenv("LMP_MODEL_FAST", "groq/llama")
    assert resolve_model("fast", DECLARED, {})[0] == "groq/llama"
    assert resolve_model("fast", DECLARED, {"fast": "local"})[0] == "local"
    assert resolve_model("smart", {}, {}) == ("openai/big", {"max_tokens": 50})
    assert resolve_model("unknown", {}, {}) == ("local", {})
    assert resolve_model(None, {}, {}) == ("local", {})


def test_declared_used_when_nothing_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMP_MODEL_FAST", raising=False)
    monkeypatch.delenv("LMP_API_BASE_FAST", raising=False)
    model, params = resolve_model("fast", DECLARED, {}, start=tmp_path)
    assert model == "openai/gpt-4o-mini" and params["api_base"] == "http://declared/v1"


def test_api_base_env_and_literal_ids(project, monkeypatch):
    monkeypatch.setenv("LMP_API_BASE_FAST", "http://127.0.0.1:9999/v1")
    assert resolve_model("fast", DECLARED, {})[1]["api_base"] == "http://127.0.0.1:9999/v1"
    assert resolve_model("openai/gpt-4o", {}, {}) == ("openai/gpt-4o", {})


def test_make_lm_builds_without_importing_litellm():
    lm = make_lm("openai/gpt-4o-mini", {"temperature": 0, "num_retries": 1, "api_key": "sk-x"})
    assert isinstance(lm, LiteLLM) and lm.num_retries == 1 and lm.params == {"temperature": 0}
    assert "sk-x" not in repr(lm)
    text = make_lm("text-completion-openai/base", {"model_type": "text"})
    assert text.model_type == "text"
    fake = make_lm("fake:hello")
    assert isinstance(fake, FakeLM) and fake("anything").text == "hello"
    assert make_lm("fake")("echo me").text == "echo me"


def test_import_does_not_load_litellm():
    import subprocess

    code = ("import lmp.runtime.lm, sys; "
            "print('litellm' in sys.modules, 'xllamacpp' in sys.modules, 'httpx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
