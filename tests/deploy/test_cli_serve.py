"""`lmp serve` as a process: a real litellm model over loopback (FakeServer with fixed latency),
per-request tokens in the JSON log, and SIGTERM draining the request in flight."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from lmp.runtime.lm import FakeServer

from .conftest import CLASSIFY_ANSWER

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM semantics")


def start_serve(program: str, fake_url: str, *extra: str) -> tuple[subprocess.Popen, str, list[str]]:
    env = {**os.environ, "LMP_API_BASE_DEFAULT": fake_url, "OPENAI_API_KEY": "sk-test-not-a-secret"}
    env.pop("LMP_MODEL_DEFAULT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmp", "serve", program, "--port", "0", "--no-cache",
         "--model", "default=openai/fake-model", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while url is None:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError("lmp serve exited: " + "".join(lines))
        lines.append(line)
        m = re.search(r" on (http://127\.0\.0\.1:\d+)", line)
        if m:
            url = m.group(1)
        assert time.monotonic() < deadline
    threading.Thread(target=lambda: [lines.append(x) for x in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    while True:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.05)
    return proc, url, lines


def test_sigterm_drains_in_flight_request(classify_path):
    with FakeServer(responder=lambda body: CLASSIFY_ANSWER) as fake:
        proc, url, lines = start_serve(classify_path, fake.url)
        try:
            # Warm-up: litellm is imported on the first model call (seconds on a busy machine).
            assert httpx.post(url + "/modules/Classify", json={"event": "warm"}, timeout=120).status_code == 200
            fake.latency = 1.0
            fake.requests.clear()
            result: dict = {}

            def call() -> None:
                result["r"] = httpx.post(url + "/modules/Classify", json={"event": "Battle"}, timeout=30)

            t = threading.Thread(target=call)
            t.start()
            deadline = time.monotonic() + 60
            while not fake.completion_requests():  # the request reached the model
                assert time.monotonic() < deadline
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            t.join(30)
            assert result["r"].status_code == 200, result["r"].text
            assert result["r"].json() == {"category": "Wars and Conflicts", "confidence": 0.9}
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        time.sleep(0.1)
        logs = [json.loads(x) for x in lines if x.startswith("{")]
        events = [r["event"] for r in logs]
        assert events.index("draining") < len(events) - 1 - events[::-1].index("request") < events.index("shutdown"), events
        assert next(r for r in logs if r["event"] == "draining")["in_flight"] == 1
        req = [r for r in logs if r["event"] == "request"][-1]
        assert req["status"] == 200 and req["model_calls"] == 1
        assert req["prompt_tokens"] > 0 and req["completion_tokens"] > 0
        assert req["models"] and req["latency_ms"] >= 1000
        assert "sk-test-not-a-secret" not in "".join(lines)
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/healthz", timeout=2)


def test_provider_http_errors_become_502(classify_path):
    with FakeServer(fail_always=True, fail_status=401) as fake:
        proc, url, lines = start_serve(classify_path, fake.url)
        try:
            r = httpx.post(url + "/modules/Classify", json={"event": "Battle"}, timeout=30)
            assert r.status_code == 502, r.text
            assert r.json()["error"] == "model_auth_error"
            assert "sk-test-not-a-secret" not in r.text
            assert httpx.get(url + "/healthz").status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0


def test_cli_rejects_a_program_with_errors(tmp_path):
    bad = tmp_path / "bad.lmp"
    bad.write_text("module M(x: str) -> (y: int) {\n  return undefined_thing\n}\n")
    r = subprocess.run([sys.executable, "-m", "lmp", "serve", str(bad), "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "error" in r.stderr


def test_help_lists_serve_and_export():
    r = subprocess.run([sys.executable, "-m", "lmp", "--help"], capture_output=True, text=True, timeout=60)
    assert "serve" in r.stdout and "export" in r.stdout
