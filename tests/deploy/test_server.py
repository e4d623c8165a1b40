"""`lmp serve` over loopback with a real HTTP client (httpx)."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx
import jsonschema
import pytest

from lmp.runtime.lm import LMAuthError, LMConnectionError, LMTimeoutError

from .conftest import CLASSIFY_ANSWER, REVIEW_ANSWER

GOOD_DOC = {"title": "On Things", "year": 1999, "tags": ["a", "b"]}


def slow(answer: str, seconds: float):
    def respond(messages):
        time.sleep(seconds)
        return answer

    return respond


def test_success_returns_typed_outputs_and_logs_usage(serve, classify_path):
    srv = serve(classify_path, default=CLASSIFY_ANSWER)
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle of Nineveh"},
                   headers={"x-request-id": "abc-123"})
    assert r.status_code == 200, r.text
    assert r.json() == {"category": "Wars and Conflicts", "confidence": 0.9}
    assert r.headers["x-request-id"] == "abc-123"
    assert int(r.headers["x-lmp-tokens"]) > 0
    (entry,) = srv.logs("request")
    assert entry["status"] == 200 and entry["module"] == "Classify" and entry["request_id"] == "abc-123"
    assert entry["model_calls"] == 1 and entry["prompt_tokens"] > 0 and entry["completion_tokens"] > 0
    assert entry["tokens"] == entry["prompt_tokens"] + entry["completion_tokens"]
    assert "cost" in entry and entry["latency_ms"] > 0
    assert "Battle of Nineveh" not in str(entry)  # inputs are not logged


def test_defaults_optionals_and_records(serve, review_path):
    srv = serve(review_path, default=REVIEW_ANSWER)
    r = httpx.post(srv.url + "/modules/Review", json={"doc": GOOD_DOC})
    assert r.status_code == 200, r.text
    assert r.json() == {"verdict": "high", "score": 0.5}
    r = httpx.post(srv.url + "/modules/Review",
                   json={"doc": {**GOOD_DOC, "note": None}, "level": "high", "weight": 2, "strict": True})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({}, "doc", "missing"),
        ({"doc": GOOD_DOC, "level": "medium"}, "level", "literal_error"),
        ({"doc": {**GOOD_DOC, "year": "1999"}}, "doc.year", "int_type"),
        ({"doc": {**GOOD_DOC, "tags": ["a", 3]}}, "doc.tags.1", "string_type"),
        ({"doc": {**GOOD_DOC, "extra": 1}}, "doc.extra", "extra_forbidden"),
        ({"doc": GOOD_DOC, "wieght": 1.0}, "wieght", "extra_forbidden"),
        ({"doc": GOOD_DOC, "strict": "yes"}, "strict", "bool_type"),
    ],
)
def test_bad_request_is_422_naming_the_field(serve, review_path, body, field, kind):
    srv = serve(review_path, default=REVIEW_ANSWER)
    r = httpx.post(srv.url + "/modules/Review", json=body)
    assert r.status_code == 422, r.text
    data = r.json()
    assert data["error"] == "invalid_request"
    assert any(f["field"] == field and f["type"] == kind for f in data["fields"]), data
    assert f"`{field}`" in data["message"]
    assert srv.server.handle.interpreter is not None
    assert not srv.logs("request")[0]["model_calls"]  # the model was never called


def test_not_json_and_not_object_are_422(serve, classify_path):
    srv = serve(classify_path, default=CLASSIFY_ANSWER)
    r = httpx.post(srv.url + "/modules/Classify", content=b"{not json")
    assert r.status_code == 422 and r.json()["error"] == "invalid_json"
    r = httpx.post(srv.url + "/modules/Classify", json=["Battle"])
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = httpx.post(srv.url + "/modules/Classify", content=b"")
    assert r.status_code == 422


def test_unknown_module_404_and_wrong_method_405(serve, classify_path):
    srv = serve(classify_path, default=CLASSIFY_ANSWER)
    r = httpx.post(srv.url + "/modules/Nope", json={})
    assert r.status_code == 404 and "Classify" in r.json()["message"]
    r = httpx.get(srv.url + "/modules/Classify")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert httpx.get(srv.url + "/nowhere").status_code == 404


def test_body_too_large_is_413(serve, classify_path):
    srv = serve(classify_path, default=CLASSIFY_ANSWER, max_body_bytes=100)
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "x" * 200})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_garbage_model_output_is_502_with_clear_body(serve, classify_path):
    srv = serve(classify_path, default="\x00}{ lorem ipsum ### not an answer")
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    assert r.status_code == 502, r.text
    data = r.json()
    assert data["error"] == "bad_model_output"
    assert data["field"] in ("category", "confidence", None) and data["expected_type"]
    assert "could not be parsed" in data["message"] and data["request_id"]
    (entry,) = srv.logs("request")
    assert entry["status"] == 502 and entry["model_calls"] == 3  # answer, repair, JSON adapter
    assert "lorem" not in entry["message"]  # the model's answer is content: not logged
    # The server is still serving.
    assert httpx.get(srv.url + "/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (LMConnectionError("Could not reach the model server at http://127.0.0.1:9."), 502, "model_unreachable"),
        (LMAuthError("The provider rejected the API key."), 502, "model_auth_error"),
        (LMTimeoutError("Model 'x' did not answer within 5 s."), 504, "model_timeout"),
    ],
)
def test_provider_errors_map_to_502_504(serve, classify_path, error, status, kind):
    srv = serve(classify_path, [error], default=CLASSIFY_ANSWER)
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    assert r.status_code == status, r.text
    assert r.json()["error"] == kind and str(error) in r.json()["message"]
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    assert r.status_code == 200  # the next request is fine


def test_request_timeout_is_504_and_slot_held_until_the_run_ends(serve, classify_path):
    srv = serve(classify_path, slow(CLASSIFY_ANSWER, 1.2), timeout=0.2, concurrency=1)
    t0 = time.perf_counter()
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    assert r.status_code == 504, r.text
    assert r.json()["error"] == "timeout" and "0.2 s" in r.json()["message"]
    assert time.perf_counter() - t0 < 1.0
    # The run is still going in its worker: the one slot is busy, so the next request is refused.
    r2 = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    assert r2.status_code == 503
    srv.wait_idle()
    assert srv.server.in_flight == 0


def test_saturation_is_503_with_retry_after(serve, classify_path):
    srv = serve(classify_path, slow(CLASSIFY_ANSWER, 1.0), concurrency=2, timeout=10)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(httpx.post, srv.url + "/modules/Classify", json={"event": f"e{i}"}, timeout=10)
                   for i in range(6)]
        responses = [f.result() for f in futures]
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 2 and codes.count(503) == 4, codes
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.json()["error"] == "overloaded" and refused.headers["retry-after"] == "1"
    srv.wait_idle()
    assert httpx.post(srv.url + "/modules/Classify", json={"event": "again"}, timeout=10).status_code == 200


def test_health_and_readiness(serve, classify_path):
    gate = threading.Event()
    srv = serve(classify_path, default=CLASSIFY_ANSWER, warmup=lambda: gate.wait(10), wait_ready=False)
    assert httpx.get(srv.url + "/healthz").json() == {"status": "ok"}
    r = httpx.get(srv.url + "/readyz")
    assert r.status_code == 503 and r.json()["status"] == "not_ready"
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    assert r.status_code == 503 and r.json()["error"] == "not_ready"
    gate.set()
    deadline = time.monotonic() + 5
    while httpx.get(srv.url + "/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert httpx.get(srv.url + "/readyz").json()["modules"] == ["Classify"]
    assert httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"}).status_code == 200


def test_failed_warmup_keeps_server_unready(serve, classify_path):
    def broken():
        raise RuntimeError("no model package")

    srv = serve(classify_path, default=CLASSIFY_ANSWER, warmup=broken, wait_ready=False)
    deadline = time.monotonic() + 5
    while not srv.logs("not_ready"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    r = httpx.get(srv.url + "/readyz")
    assert r.status_code == 503 and "no model package" in r.json()["reason"]


def test_internal_error_is_500_and_server_survives(serve, classify_path):
    calls = {"n": 0}

    def answer(messages):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("boom")
        return CLASSIFY_ANSWER

    srv = serve(classify_path, answer)
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    # The runtime reports an unexpected failure inside a run as a program error.
    assert r.status_code == 500 and r.json()["error"] == "program_error", r.text
    assert httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"}).status_code == 200


def test_unexpected_server_bug_is_500_without_internals(serve, classify_path):
    srv = serve(classify_path, default=CLASSIFY_ANSWER)

    def broken(*args):
        raise ZeroDivisionError("secret internals")

    srv.server._run_sync = broken
    r = httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"})
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert "secret internals" not in r.text  # no internals in the body; the log has the traceback
    assert "ZeroDivisionError" in srv.logs("internal_error")[0]["traceback"]
    del srv.server._run_sync
    srv.wait_idle()
    assert httpx.post(srv.url + "/modules/Classify", json={"event": "Battle"}).status_code == 200


def test_openapi_document_is_valid_and_matches_responses(serve, review_path):
    srv = serve(review_path, default=REVIEW_ANSWER)
    doc = httpx.get(srv.url + "/openapi.json").json()
    try:
        from openapi_spec_validator import validate
    except ImportError:  # optional: the checks below still validate every schema in the document
        pass
    else:
        validate(doc)  # the OpenAPI 3.1 meta-schema
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    req = schemas["ReviewRequest"]
    assert req["required"] == ["doc"]
    assert req["properties"]["level"] == {"type": "string", "enum": ["low", "high"]}
    assert req["properties"]["doc"]["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    ok = httpx.post(srv.url + "/modules/Review", json={"doc": GOOD_DOC})
    jsonschema.validate(ok.json(), schemas["ReviewResponse"])
    bad = httpx.post(srv.url + "/modules/Review", json={"doc": 1})
    jsonschema.validate(bad.json(), schemas["Error"])
    assert set(doc["paths"]) == {"/modules/Review", "/modules/Review/stream", "/healthz", "/readyz"}
