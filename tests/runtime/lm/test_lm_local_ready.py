"""A local model server that is still loading its model (llama.cpp answers 503 "Loading model" on /health and
on completions) is waited for, up to a configurable deadline, instead of failing the call."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lmp.runtime.lm import local as local_mod
from lmp.runtime.lm.base import LMConnectionError, LMError
from lmp.runtime.lm.local import local_lm

LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


class SlowServer:
    """Loopback server that answers like llama.cpp while loading for `load_seconds`, then serves."""

    def __init__(self, load_seconds: float, *, health_route: bool = True) -> None:
        self.load_seconds = load_seconds
        self.health_route = health_route
        self.hits: list[tuple[float, str, int]] = []
        self._ready_at = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def _send(self, status: int, payload: dict) -> None:
                # Recorded before answering: the client may act on the answer before this thread runs again.
                outer.hits.append((time.monotonic(), self.path, status))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "smollm2-135m-instruct", "object": "model"}]})
                elif self.path != "/health" or not outer.health_route:
                    self._send(404, {"error": {"message": "no route", "type": "not_found"}})
                elif time.monotonic() < outer._ready_at:
                    self._send(503, LOADING)
                else:
                    self._send(200, {"status": "ok"})

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if time.monotonic() < outer._ready_at:
                    self._send(503, LOADING)
                    return
                self._send(200, {
                    "id": "x", "object": "chat.completion", "model": "local",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "loaded and answering"}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
                })

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> SlowServer:
        self._ready_at = time.monotonic() + self.load_seconds
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(autouse=True)
def _forget_ready_servers(monkeypatch):
    monkeypatch.setattr(local_mod, "_ready_urls", set(), raising=False)
    monkeypatch.delenv("LMP_LOCAL_READY_TIMEOUT", raising=False)


def test_a_call_waits_for_a_server_that_is_loading_its_model(monkeypatch):
    with SlowServer(load_seconds=1.5) as server:
        monkeypatch.setenv("LMP_LOCAL_URL", server.url)
        # No retries at all: waiting for the model to load must not depend on the retry budget.
        lm = local_lm(num_retries=0, cache=None)
        t0 = time.monotonic()
        answer = lm.complete([{"role": "user", "content": "hi"}])
        waited = time.monotonic() - t0
    assert answer.text == "loaded and answering"
    assert waited >= 1.4
    posts = [h for h in server.hits if h[1].endswith("/chat/completions")]
    assert [status for _, _, status in posts] == [200]  # no call was sent before /health said ready
    assert any(status == 503 for _, path, status in server.hits if path == "/health")


def test_a_503_during_a_call_waits_for_the_reload_and_retries_the_call(monkeypatch):
    with SlowServer(load_seconds=0.0) as server:
        monkeypatch.setenv("LMP_LOCAL_URL", server.url)
        lm = local_lm(num_retries=0, cache=None)
        assert lm.complete([{"role": "user", "content": "a"}]).text == "loaded and answering"
        server._ready_at = time.monotonic() + 1.0  # the server restarts and loads again
        assert lm.complete([{"role": "user", "content": "b"}]).text == "loaded and answering"
    statuses = [status for _, path, status in server.hits if path.endswith("/chat/completions")]
    assert statuses == [200, 503, 200]


def test_the_deadline_is_configurable_and_named_in_the_error(monkeypatch):
    monkeypatch.setenv("LMP_LOCAL_READY_TIMEOUT", "0.8")
    with SlowServer(load_seconds=60) as server:
        monkeypatch.setenv("LMP_LOCAL_URL", server.url)
        lm = local_lm(num_retries=0, cache=None)
        t0 = time.monotonic()
        with pytest.raises(LMConnectionError) as info:
            lm.complete([{"role": "user", "content": "hi"}])
        assert time.monotonic() - t0 < 10
    message = str(info.value)
    assert "still loading the model after 1 s" in message
    assert "Loading model" in message and "raise LMP_LOCAL_READY_TIMEOUT" in message


def test_a_bad_deadline_setting_is_named(monkeypatch):
    monkeypatch.setenv("LMP_LOCAL_READY_TIMEOUT", "soon")
    with pytest.raises(LMError, match="LMP_LOCAL_READY_TIMEOUT='soon' is not a number of seconds"):
        local_mod.wait_ready("http://127.0.0.1:9/v1")


def test_a_server_without_a_health_route_is_not_blocked(monkeypatch):
    with SlowServer(load_seconds=0.0, health_route=False) as server:
        monkeypatch.setenv("LMP_LOCAL_URL", server.url)
        assert local_mod.wait_ready(server.url, timeout=5) < 2
        assert local_lm(num_retries=0, cache=None).complete([{"role": "user", "content": "x"}]).text


def test_a_server_that_never_listens_is_reported_unreachable_without_the_loading_deadline(monkeypatch):
    monkeypatch.setattr(local_mod, "UNREACHABLE_TIMEOUT", 0.5, raising=False)
    t0 = time.monotonic()
    with pytest.raises(LMConnectionError, match=r"was not reachable after \d+ s .*Is it running"):
        local_mod.wait_ready("http://127.0.0.1:9/v1", timeout=600)
    assert time.monotonic() - t0 < 5


def _cli(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    from lmp.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def test_serve_local_on_a_port_another_program_holds_names_the_port_and_a_free_one():
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, err = _cli(["serve-local", "--port", str(port)])
    assert code == 1
    assert f"Port {port} on 127.0.0.1 is already in use by another program" in err
    assert "lmp serve-local --port " in err and "Failed to init server" not in err


def test_serve_local_on_the_port_of_a_running_model_server_says_to_reuse_it():
    with SlowServer(load_seconds=0.0) as server:
        port = int(server.url.split(":")[2].split("/")[0])
        code, err = _cli(["serve-local", "--port", str(port)])
    assert code == 1
    assert f"export LMP_LOCAL_URL=http://127.0.0.1:{port}/v1" in err
