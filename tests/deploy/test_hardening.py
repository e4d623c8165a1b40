"""Issue 14 item 9: `lmp serve` stops reading a chunked body at --max-body, answers in-flight runs when
the drain timeout passes and exits within a second of it, logs a client that left mid-body as such
(not an internal error), and names a model server's non-JSON 200 for what it is."""

from __future__ import annotations

import json
import select
import signal
import socket
import sys
import threading
import time
from urllib.parse import urlparse

import httpx
import pytest

from lmp.runtime.lm import FakeServer

from .conftest import CLASSIFY_ANSWER


def _connect(url: str) -> socket.socket:
    u = urlparse(url)
    return socket.create_connection((u.hostname, u.port), timeout=10)


def _headers(path: str, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}\r\n").encode()


def test_a_chunked_body_is_read_no_further_than_max_body(serve, classify_path):
    srv = serve(classify_path, default=CLASSIFY_ANSWER, max_body_bytes=64 * 1024)
    sock = _connect(srv.url)
    sock.sendall(_headers("/modules/Classify", "Transfer-Encoding: chunked\r\n"))
    chunk = b"x" * 65536
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    answer = b""
    sock.setblocking(False)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and sent < 200 * 1024 * 1024:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                data = sock.recv(65536)
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
            if writable:
                try:
                    sent += sock.send(frame)
                except (BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.setblocking(True)
        sock.settimeout(5)
        while b"}" not in answer:  # the rest of the answer
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b'"body_too_large"' in body
    # The server answered after the limit, not after reading 200 MB (what the socket buffers hold aside).
    assert sent < 32 * 1024 * 1024, f"{sent / 1e6:.0f} MB were accepted before the 413"
    assert httpx.get(srv.url + "/healthz").status_code == 200


def test_a_client_that_leaves_mid_body_is_not_an_internal_error(serve, classify_path):
    srv = serve(classify_path, default=CLASSIFY_ANSWER)
    sock = _connect(srv.url)
    sock.sendall(_headers("/modules/Classify", "Content-Length: 1000\r\n") + b'{"event": "Bat')
    time.sleep(0.3)
    sock.close()
    deadline = time.monotonic() + 10
    while not srv.logs("request") and time.monotonic() < deadline:
        time.sleep(0.05)
    [req] = srv.logs("request")
    assert req["error"] == "client_disconnected" and req["status"] == 499
    assert not srv.logs("internal_error")
    assert "Traceback" not in json.dumps(srv.logs())
    assert httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"}).status_code == 200


def test_a_model_server_answering_200_with_html_is_a_clear_model_error(tmp_path, classify_path):
    import io

    from lmp.api import load
    from lmp.deploy.server import BackgroundServer, JsonLog, LmpServer, MeteringHistory, ServeOptions
    from lmp.runtime import settings
    from lmp.runtime.lm import LiteLLM

    with FakeServer(invalid_json=True) as fake:
        history = MeteringHistory(max_records=100)
        settings.configure(lm=LiteLLM("openai/fake-model", api_base=fake.url, api_key="sk-test", num_retries=0),
                           history=history)
        server = LmpServer(load(classify_path), ServeOptions(cache=False), log=JsonLog(io.StringIO()),
                           history=history)
        with BackgroundServer(server) as bg:
            r = httpx.post(bg.url + "/modules/Classify", json={"event": "Battle"}, timeout=30)
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["error"] == "model_error"
    assert "HTTP 200" in body["message"] and "not JSON" in body["message"]
    assert "HTTP 502" not in body["message"] and "OpenAI-style" in body["message"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM semantics")
def test_drain_timeout_answers_in_flight_runs_and_exits_within_a_second(classify_path):
    from .test_cli_serve import start_serve

    with FakeServer(responder=lambda body: CLASSIFY_ANSWER) as fake:
        proc, url, lines = start_serve(classify_path, fake.url, "--drain-timeout", "1", "--timeout", "60")
        try:
            fake.latency = 30.0  # the model will not answer before the deadline
            result: dict = {}

            def call() -> None:
                result["r"] = httpx.post(url + "/modules/Classify", json={"event": "Battle"}, timeout=60)

            t = threading.Thread(target=call)
            t.start()
            deadline = time.monotonic() + 60
            while not fake.completion_requests():
                assert time.monotonic() < deadline
                time.sleep(0.02)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            t.join(30)
            answered = time.monotonic() - t0
            code = proc.wait(30)
            exited = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    r = result["r"]
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "shutting_down" and "drain timeout of 1 s" in r.json()["message"]
    assert 1.0 <= answered < 2.0 and exited < 2.0, (answered, exited)
    assert code == 0
    time.sleep(0.1)
    logs = [json.loads(x) for x in lines if x.startswith("{")]
    req = [x for x in logs if x["event"] == "request"][-1]
    assert req["status"] == 503 and req["error"] == "shutting_down"
    assert not [x for x in logs if x["event"] == "internal_error"]


# ---------------------------------------------------------------- the response cache (item 10)


def _cached_server(classify_path):
    import io

    from lmp.api import load
    from lmp.deploy.server import BackgroundServer, JsonLog, LmpServer, MeteringHistory, ServeOptions
    from lmp.runtime import settings
    from lmp.runtime.lm import FakeLM

    history = MeteringHistory(max_records=100)
    settings.configure(lm=FakeLM(default=CLASSIFY_ANSWER, history=history), history=history)
    log = io.StringIO()
    server = LmpServer(load(classify_path), ServeOptions(cache=True), log=JsonLog(log), history=history)
    return BackgroundServer(server), log


def _wait_warmup(bg, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while bg.server.not_ready_reason == "starting" and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_corrupt_cache_is_moved_aside_and_the_server_is_ready(tmp_path, classify_path):
    cache_dir = tmp_path / "cache"  # LMP_CACHE_DIR (tests/deploy/conftest.py)
    cache_dir.mkdir()
    (cache_dir / "responses.sqlite").write_bytes(b"not a database at all\n" * 100)
    bg, log = _cached_server(classify_path)
    with pytest.warns(UserWarning, match="moved it to"), bg:
        assert httpx.get(bg.url + "/readyz").json()["status"] == "ready"
        r = httpx.post(bg.url + "/modules/Classify", json={"event": "Battle"})
        assert r.status_code == 200, r.text
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    moved = next(e for e in events if e["event"] == "cache_moved_aside")
    assert moved["path"] == str(cache_dir / "responses.sqlite") and ".corrupt-" in moved["moved_to"]


def test_readyz_is_not_ready_when_the_cache_cannot_be_opened(tmp_path, classify_path):
    (tmp_path / "cache" / "responses.sqlite").mkdir(parents=True)  # a directory where the file should be
    bg, _ = _cached_server(classify_path)
    bg.start(wait_ready=False)
    try:
        _wait_warmup(bg)
        r = httpx.get(bg.url + "/readyz")
        assert r.status_code == 503
        reason = r.json()["reason"]
        assert "response cache" in reason and str(tmp_path / "cache" / "responses.sqlite") in reason
        assert httpx.post(bg.url + "/modules/Classify", json={"event": "Battle"}).json()["error"] == "not_ready"
    finally:
        bg.stop()
