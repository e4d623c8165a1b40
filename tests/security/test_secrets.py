"""Every key lmp is given, from any source, is scrubbed from every error, record and log before
it is written or returned (issue 14, item 3).

Before: a key given in model params or `[tool.lmp.models]` was never scrubbed; a provider that
repeated it in an error put it in `lmp serve`'s 502 body, the server log, history, batch and eval
output, checkpoints, `lmp history` and MLflow predictions. The loopback fake server here answers
every call with HTTP 400 quoting the request's key back, as some providers do."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lmp.runtime import settings
from lmp.runtime.lm.fake_server import FakeServer
from lmp.secrets import forget_secrets, register_secret, scrub

from .helpers import lmp_cli, project

# Shaped like no known key (no sk-/ghp_ prefix), so only "lmp was given it" can catch it.
KEY = "lmp-test-key-7f3a9c2e1b5d"
ENV_NAME = "MY_LLM_ACCESS"  # a name that does not look like a credential variable
ECHO = "incorrect API key provided"  # the fake provider's words just before the echoed key

PROGRAM = """{model}

signature Echo {{
  in text: str
  out answer: str
}}

module E(text: str) -> (answer: str) {{
  let p = Predict(Echo)
  return p(text: text)
}}
"""


@pytest.fixture
def echo_server() -> Iterator[FakeServer]:
    with FakeServer(fail_always=True, fail_status=400, echo_key=True) as srv:
        yield srv


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    for name in list(os.environ):
        if name.startswith(("LMP_MODEL_", "LMP_API_BASE_")) or name.endswith("_API_KEY"):
            monkeypatch.delenv(name)
    forget_secrets()  # each test proves its own flow registers the key
    settings.reset()
    yield
    settings.reset()
    forget_secrets()


def make_program(root: Path, source: str, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The echo program with the key given in the .lmp params, in pyproject.toml, or with env()."""
    if source == "params":
        model = f'model default = "openai/fake-model" {{ api_base: "{url}", api_key: "{KEY}", num_retries: 0 }}'
    elif source == "env":
        monkeypatch.setenv(ENV_NAME, KEY)
        model = (f'model default = "openai/fake-model" {{ api_base: "{url}", api_key: env("{ENV_NAME}"), '
                 "num_retries: 0 }")
    else:
        model = ""
        (root / "pyproject.toml").write_text(
            '[project]\nname = "demo"\n\n[tool.lmp.models]\n'
            f'default = {{ model = "openai/fake-model", api_base = "{url}", api_key = "{KEY}", num_retries = 0 }}\n')
    path = root / "prog.lmp"
    path.write_text(PROGRAM.format(model=model))
    return path


SOURCES = ["params", "pyproject", "env"]


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


@pytest.mark.parametrize("source", SOURCES)
def test_batch_output_history_and_lmp_history(source: str, tmp_path: Path, echo_server: FakeServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    make_program(root, source, echo_server.url, monkeypatch)
    (root / "rows.jsonl").write_text('{"text": "hi"}\n{"text": "ho"}\n')
    proc = lmp_cli("run", "prog.lmp", "--input", "rows.jsonl", "--output", "out.jsonl", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert echo_server.completion_requests()[0].headers["authorization"] == f"Bearer {KEY}"
    out = (root / "out.jsonl").read_text()
    history = (tmp_path / "cache" / "history.jsonl").read_text()
    assert ECHO in out and ECHO in history  # the provider's error did reach both files...
    assert_clean(out, history, proc.stdout, proc.stderr)  # ...without the key
    shown = lmp_cli("history", "--last", "0", cwd=root)
    shown_json = lmp_cli("history", "--json", cwd=root)
    assert ECHO in shown_json.stdout
    assert_clean(shown.stdout, shown.stderr, shown_json.stdout)


@pytest.mark.parametrize("source", SOURCES)
def test_eval_output(source: str, tmp_path: Path, echo_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    make_program(root, source, echo_server.url, monkeypatch)
    (root / "dev.jsonl").write_text('{"text": "hi", "answer": "x"}\n')
    proc = lmp_cli("eval", "prog.lmp", "--dev", "dev.jsonl", "--metric", "exact_match", "--out", "res.jsonl",
                   "--json", cwd=root)
    assert (root / "res.jsonl").exists(), proc.stderr
    results = (root / "res.jsonl").read_text()
    assert ECHO in results
    assert_clean(results, proc.stdout, proc.stderr)


@pytest.mark.parametrize("source", SOURCES)
def test_serve_502_body_and_logs(source: str, tmp_path: Path, echo_server: FakeServer,
                                 monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from lmp.api import load
    from lmp.deploy.server import BackgroundServer, JsonLog, LmpServer, ServeOptions

    root = project(tmp_path)
    path = make_program(root, source, echo_server.url, monkeypatch)
    log = io.StringIO()
    caplog.set_level(logging.DEBUG)
    server = LmpServer(load(str(path)), ServeOptions(cache=False, history_path=str(tmp_path / "serve.jsonl")),
                       log=JsonLog(log))
    with BackgroundServer(server) as bg:
        response = httpx.post(bg.url + "/modules/E", json={"text": "hi"}, timeout=30)
    assert response.status_code == 502
    assert ECHO in response.text
    logged = log.getvalue()
    assert ECHO in logged
    python_logs = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert_clean(response.text, logged, python_logs, (tmp_path / "serve.jsonl").read_text())


def test_checkpoints(tmp_path: Path) -> None:
    from lmp.optimize.context import Checkpoint
    from lmp.runtime.lm.roles import resolve_model

    # Resolving the role is what tells lmp about the key (as every run does before a call).
    model_id, params = resolve_model("default", {"default": ("openai/x", {"api_key": KEY})})
    assert params["api_key"] == KEY
    path = tmp_path / "opt.ckpt.json"
    ckpt = Checkpoint(str(path), {"optimizer": "bootstrap", "note": f"api key {KEY}"})
    ckpt.put("eval:dev:0", {"score": 0.0, "errors": [f"LMError: {ECHO}: {KEY}"], "prediction": {"answer": KEY}})
    saved = path.read_text()
    assert ECHO in saved
    assert_clean(saved)


def test_mlflow_prediction(tmp_path: Path, echo_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    pd = pytest.importorskip("pandas")
    import warnings

    import mlflow.pyfunc

    from lmp.deploy.mlflow_export import export_mlflow

    root = project(tmp_path)
    path = make_program(root, "env", echo_server.url, monkeypatch)
    out = str(tmp_path / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_mlflow(str(path), out)
        model = mlflow.pyfunc.load_model(out)
    result = model.predict(pd.DataFrame([{"text": "hi"}]), params={"on_error": "null"})
    error = result["_error"][0]
    assert ECHO in error
    assert_clean(error)
    with pytest.raises(Exception) as info:
        model.predict(pd.DataFrame([{"text": "hi"}]))
    assert ECHO in str(info.value)
    assert_clean(str(info.value))


def test_env_function_reads_the_variable_when_the_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmp.project import load_text
    from lmp.runtime.lm.base import LMAuthError
    from lmp.runtime.lm.roles import make_lm, resolve_model

    loaded = load_text(f'model default = "openai/x" {{ api_key: env("{ENV_NAME}") }}\n')
    assert loaded.errors == [] and [d.code for d in loaded.diagnostics] == []
    declared = {n: (d.model, d.params) for n, d in loaded.program.models.items()}
    model_id, params = resolve_model("default", declared)
    assert str(params["api_key"]) == f'env("{ENV_NAME}")'  # previews and hovers show the reference
    with pytest.raises(LMAuthError, match=ENV_NAME):
        make_lm(model_id, params)
    monkeypatch.setenv(ENV_NAME, KEY)
    lm = make_lm(model_id, params)
    assert lm._api_key == KEY  # type: ignore[attr-defined]
    assert scrub(f"echo {KEY}") == "echo ***"
    assert KEY not in repr(lm)


def test_malformed_env_call_is_e049() -> None:
    from lmp.project import load_text

    diags = load_text('model default = "openai/x" { api_key: env(NAME) }\n').diagnostics
    assert [d.code for d in diags] == ["E049"] and "env()" in diags[0].message


@pytest.mark.parametrize("text", [
    "sk-proj-AbCdEfGhIjKlMnOpQrSt", "AKIAABCDEFGHIJKLMNOP", "ghp_abcdefghijklmnopqrstuvwxyz012345",
    "xoxb-123456789012-abcdefghij", "Authorization: Bearer abc.def-ghi_jkl", 'api_key="a1b2c3d4e5f6a7b8c9d0"',
    "OPENAI_API_KEY=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", '"secret": "0123456789abcdef0123456789abcdef"',
])
def test_known_secret_shapes_are_masked(text: str) -> None:
    masked = scrub(f"provider said: {text} (400)")
    assert "***" in masked and masked.startswith("provider said: ") and masked.endswith(" (400)")


@pytest.mark.parametrize("text", [
    '"max_tokens": 512', '"key": "category"', "prompt_tokens=1234567890", "the monkey: banana1234",
    "a sk- prefix alone", "tokenizer: gpt2-large-2024-tokens",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_credential_environment_values_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_SERVICE_TOKEN", "plain-words-credential")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false-but-long-enough")
    assert scrub("x plain-words-credential y") == "x *** y"
    assert scrub("false-but-long-enough") == "false-but-long-enough"


def test_every_log_record_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(KEY)  # also installs the process-wide log scrubbing
    caplog.set_level(logging.INFO)
    logger = logging.getLogger("some.library")
    logger.info("calling with key %s", KEY)
    try:
        raise RuntimeError(f"provider rejected {KEY}")
    except RuntimeError:
        logger.exception("call failed")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("again: %s", KEY)
    finally:
        logger.removeHandler(handler)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records) + caplog.text + stream.getvalue()
    assert "calling with key ***" in text and "provider rejected ***" in text
    assert_clean(text)


def test_history_drops_credential_fields_and_masks_values(tmp_path: Path) -> None:
    from lmp.runtime.lm.history import CallRecord, History

    register_secret(KEY)
    hist = History(tmp_path / "h.jsonl")
    hist.add(CallRecord(model="m", messages=[{"role": "user", "content": f"my key is {KEY}"}],
                        error=f"{ECHO}: {KEY}", params={"api_key": KEY, "x_api_key": KEY, "temperature": 0.0,
                                                         "extra_headers": {"Authorization": f"Bearer {KEY}"}}))
    saved = (tmp_path / "h.jsonl").read_text()
    assert_clean(saved)
    record = json.loads(saved)
    assert record["params"] == {"temperature": 0.0} and record["error"] == f"{ECHO}: ***"


def test_bearer_value_registers_the_bare_key_too() -> None:
    register_secret(f"Bearer {KEY}")
    assert scrub(f"got {KEY}") == "got ***"



def test_a_key_given_to_the_python_api_directly_is_registered() -> None:
    from lmp.runtime.lm.litellm_lm import LiteLLM

    LiteLLM("openai/x", api_base="http://127.0.0.1:9/v1", api_key=KEY)
    assert scrub(f"provider said {KEY}") == "provider said ***"


@pytest.mark.parametrize("text", ["a-" * 250_000, "key: " * 100_000, "ab1-" * 125_000, "Bearer " * 70_000])
def test_scrubbing_is_linear_on_pathological_text(text: str) -> None:
    # Every history record, log line and diagnostic passes through scrub: a long prompt of
    # hyphenated words must not make it quadratic (it took seconds per 200 KB before the bound).
    start = time.perf_counter()
    scrub(text)
    assert time.perf_counter() - start < 2.0


def test_readyz_reason_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmp.api import load
    from lmp.deploy.server import BackgroundServer, JsonLog, LmpServer, ServeOptions

    register_secret(KEY)
    path = make_program(project(tmp_path), "params", "http://127.0.0.1:9/v1", monkeypatch)

    def warmup() -> None:
        raise RuntimeError(f"{ECHO}: {KEY}")  # a library error, not one of lmp's (scrubbed) errors

    log = io.StringIO()
    server = LmpServer(load(str(path)), ServeOptions(cache=False), log=JsonLog(log), warmup=warmup)
    bg = BackgroundServer(server).start(wait_ready=False)
    try:
        deadline = time.monotonic() + 10
        while server.not_ready_reason in ("starting", "") and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = httpx.get(bg.url + "/readyz", timeout=10)
    finally:
        bg.stop()
    assert ready.status_code == 503 and ECHO in ready.text
    assert_clean(ready.text, log.getvalue())
