"""`POST /modules/{Name}/stream` read by an HTTP client: partial typed values, then the result."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest

from lmp.runtime import settings

COT_PROGRAM = '''\
type Level = "low" | "high"

signature Judge {
  """Judge a document."""
  in  doc: str
  out verdict: Level
  out score: float
  out summary: str
}

module Review(doc: str) -> (verdict: Level, score: float, summary: str) {
  let judge = ChainOfThought(Judge)
  return judge(doc: doc)
}
'''

ANSWER = ("[[ ## reasoning ## ]]\nThe document is short but careful and cites its sources well.\n\n"
          "[[ ## verdict ## ]]\nhigh\n\n[[ ## score ## ]]\n0.8\n\n"
          "[[ ## summary ## ]]\nA careful short document.\n\n[[ ## completed ## ]]")


def read_events(response: httpx.Response) -> list[tuple[str, dict, float]]:
    """(event, data, seconds since the request) for each server-sent event, as they arrive."""
    start = time.perf_counter()
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:]), time.perf_counter() - start))
    return events


@pytest.fixture
def sse_server(tmp_path):
    """The Review program served over a loopback fake model server that streams with a per-token delay."""
    from lmp.api import load
    from lmp.deploy.server import BackgroundServer, JsonLog, LmpServer, MeteringHistory, ServeOptions
    from lmp.runtime.lm import FakeServer, LiteLLM

    path = tmp_path / "review.lmp"
    path.write_text(COT_PROGRAM)
    model_server = FakeServer(responder=lambda body: ANSWER, token_delay=0.03).start()
    history = MeteringHistory(max_records=100)
    settings.configure(lm=LiteLLM("openai/fake", api_base=model_server.url, history=history), history=history)
    log = io.StringIO()
    server = LmpServer(load(str(path)), ServeOptions(cache=False), log=JsonLog(log), history=history)
    bg = BackgroundServer(server).start()
    yield bg, model_server, log
    bg.stop()
    model_server.stop()


def test_stream_route_sends_typed_partials_then_the_result(sse_server):
    bg, model_server, log = sse_server
    with httpx.stream("POST", bg.url + "/modules/Review/stream", json={"doc": "a paper"}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = read_events(r)
    kinds = [e[0] for e in events]
    assert kinds[-2:] == ["result", "done"] and set(kinds[:-2]) == {"partial"}
    result = events[-2][1]
    assert result == {"verdict": "high", "score": 0.8, "summary": "A careful short document."}
    partials = [data for kind, data, _ in events if kind == "partial"]
    # reasoning streams first, as growing text, while the typed fields are still null
    growing = [p["call"]["reasoning"] for p in partials if p["call"]["reasoning"] and p["fields"]["verdict"] is None]
    assert len(growing) >= 5 and growing[-1].startswith(growing[0])
    # a typed field is never an invalid value: null until parsed, then its final value
    assert {p["fields"]["verdict"] for p in partials} <= {None, "high"}
    assert {p["fields"]["score"] for p in partials} <= {None, 0.8}
    assert all(p["predictor"] == "Review.judge" and p["attempt"] == "first" for p in partials)
    # the first partial with content arrives well before the result
    first = next(t for kind, data, t in events if kind == "partial" and data["call"]["reasoning"])
    assert first < events[-2][2] / 2
    done = events[-1][1]
    assert done["tokens"] > 0 and done["request_id"]
    body = model_server.completion_requests()[-1].body
    assert body["stream"] is True
    entry = [json.loads(line) for line in log.getvalue().splitlines() if '"request"' in line][-1]
    assert entry["status"] == 200 and entry["stream"] is True and entry["partials"] == len(partials)


def test_stream_route_errors_before_and_after_the_start(sse_server):
    bg, model_server, _ = sse_server
    r = httpx.post(bg.url + "/modules/Review/stream", json={"doc": 3}, timeout=30)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request" and "doc" in r.json()["message"]
    r = httpx.post(bg.url + "/modules/Nope/stream", json={}, timeout=30)
    assert r.status_code == 404 and r.json()["error"] == "unknown_module"
    # an answer that stays unparsable through the repair ladder: an error event with the JSON route's status
    model_server.responder = lambda body: "[[ ## reasoning ## ]]\nhmm\n\n[[ ## verdict ## ]]\nmaybe\n"
    with httpx.stream("POST", bg.url + "/modules/Review/stream", json={"doc": "x"}, timeout=30) as r:
        assert r.status_code == 200
        events = read_events(r)
    kind, data, _ = events[-2]
    assert kind == "error" and data["status"] == 502 and data["error"] == "bad_model_output"
    assert data["field"] == "verdict"
    assert any(k == "partial" and d["attempt"] == "repair" for k, d, _ in events)


def test_openapi_documents_the_stream_route(sse_server):
    bg, _, _ = sse_server
    doc = httpx.get(bg.url + "/openapi.json").json()
    op = doc["paths"]["/modules/Review/stream"]["post"]
    assert op["operationId"] == "stream_Review"
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ReviewRequest"
    events = {e["properties"]["event"]["const"]: e["properties"]["data"]["contentSchema"]
              for e in op["responses"]["200"]["content"]["text/event-stream"]["schema"]["oneOf"]}
    assert set(events) == {"partial", "result", "error", "done"}
    assert events["result"]["$ref"] == "#/components/schemas/ReviewResponse"
    assert {"422", "503"} <= set(op["responses"])


def test_stream_route_refuses_image_paths_before_any_model_call(serve, tmp_path, monkeypatch):
    from tests.runtime.media_helpers import answer, png

    path = tmp_path / "vision.lmp"
    path.write_text('module Describe(photo: Image) -> (caption: str) {\n'
                    '  let caption = Predict("photo: Image -> caption")\n'
                    '  return caption(photo: photo)\n}\n')
    (tmp_path / "private.png").write_bytes(png())
    monkeypatch.chdir(tmp_path)
    srv = serve(str(path), default=answer(caption="a red square"))
    lm = settings.current().lm
    r = httpx.post(srv.url + "/modules/Describe/stream", json={"photo": "private.png"}, timeout=30)
    assert r.status_code in (400, 422), r.text
    assert "file paths are not accepted" in r.text and lm.calls == []


def test_a_client_that_disconnects_cancels_the_run(sse_server):
    bg, model_server, log = sse_server
    long_reasoning = " ".join(["step"] * 300)  # 300 chunks x 30 ms: 9 s if nobody stopped it
    model_server.responder = lambda body: ANSWER.replace("The document is short", long_reasoning)
    start = time.perf_counter()
    with httpx.stream("POST", bg.url + "/modules/Review/stream", json={"doc": "x"}, timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:]).get("call", {}).get("reasoning"):
                break
    deadline = time.monotonic() + 5
    while (bg.server.in_flight or '"stream": true' not in log.getvalue()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bg.server.in_flight == 0 and time.perf_counter() - start < 5
    record = bg.server.history.records()[-1]
    assert "closed by the caller" in record.error and record.tags["cancelled"]
