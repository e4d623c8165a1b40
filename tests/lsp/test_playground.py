"""The editor playground through `lmp lsp` (pytest-lsp, a real server process): `lmp/run` on modules,
signatures and examples against a loopback fake OpenAI-compatible server, with progress, cancellation,
cache hits, the request as cURL (keys never shown), the diff against the previous run, and the "▶ Run"
code lenses. Opening a file never calls the model."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lmp.runtime.lm.fake_server import FakeServer
from tests.lsp.conftest import Session

SECRET = "sk-test-0123456789abcdefSECRETSECRET"
CACHE = tempfile.mkdtemp(prefix="lmp-pg-cache-")
SERVER_ENV = {**os.environ, "LMP_CACHE_DIR": CACHE, "OPENAI_API_KEY": SECRET}


def answer(body: dict) -> str:
    text = " ".join(str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user")
    category = "Wars and Conflicts" if "Nineveh" in text else "Science and Innovation"
    return f"[[ ## category ## ]]\n{category}\n\n[[ ## confidence ## ]]\n0.75\n\n[[ ## completed ## ]]"


def program(url: str, extra: str = "") -> str:
    return f'''\
type Category = "Wars and Conflicts" | "Politics and Governance" | "Science and Innovation"

model default = "openai/fake-model" {{ api_base: "{url}", temperature: 0.0 }}

signature ClassifyEvent {{
  """Classify historic events."""
  in  event: str
  out category: Category
  out confidence: float "between 0 and 1"
}}

module Classify(event: str) -> (category: Category, confidence: float) {{
  let classify = Predict(ClassifyEvent)
  r = classify(event: event)
  return (category: r.category, confidence: r.confidence)
}}

example Classify as nineveh {{
  event: "Battle of Nineveh"
  category: "Wars and Conflicts"
}}

example Classify as wrong {{
  event: "Battle of Nineveh"
  category: "Politics and Governance"
}}
{extra}'''


@pytest.fixture
def fake():
    with FakeServer(responder=answer) as srv:
        yield srv


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "lmp", "lsp", "--stdio"],
                                              server_env=SERVER_ENV))
async def client(lsp_client: LanguageClient):
    params = lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"),
                                  initialization_options={"debounceMs": 50})
    await lsp_client.initialize_session(params)
    yield lsp_client
    await lsp_client.shutdown_session()


async def run(client: LanguageClient, params: dict, token: str | None = None) -> dict:
    if token is not None:
        params = {**params, "workDoneToken": token}
        client.progress_reports.setdefault(token, [])
    return await client.protocol.send_request_async("lmp/run", params)


def plain(obj):
    """pygls hands results over as namedtuple-like objects: back to dicts and lists."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


async def test_opening_never_calls_the_model_and_lenses_offer_run(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    text = program(fake.url)
    uri = await s.open(tmp_path / "c.lmp", text)
    lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(text_document=s.tdi(uri)))
    runs = [(lens.command.title, lens.command.arguments[1]["kind"], lens.command.arguments[1]["name"],
             lens.range.start.line) for lens in lenses if lens.command.command == "lmp.run"]
    lines = text.splitlines()
    assert ("▶ Run", "module", "Classify", next(i for i, line in enumerate(lines) if line.startswith("module"))) in runs
    assert ("▶ Run", "signature", "ClassifyEvent",
            next(i for i, line in enumerate(lines) if line.startswith("signature"))) in runs
    assert ("▶ Run example", "example", "nineveh", lines.index("example Classify as nineveh {")) in runs
    module_lens = next(lens for lens in lenses if lens.command.command == "lmp.run"
                       and lens.command.arguments[1]["kind"] == "module")
    args = module_lens.command.arguments[1]
    assert args["inputs"] == [{"name": "event", "type": "str"}] and args["hasInputs"] is True
    assert any(lens.command.command == "lmp.previewPrompt" for lens in lenses)
    await asyncio.sleep(0.3)
    assert fake.completion_requests() == []


async def test_run_module_returns_typed_outputs_tokens_and_progress(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    fake.token_delay = 0.02
    res = plain(await run(client, {"uri": uri, "kind": "module", "name": "Classify",
                                   "inputs": {"event": "First powered flight, 1903"}, "noCache": True}, token="t1"))
    assert res["status"] == "ok", res.get("error")
    assert res["outputs"] == [{"name": "category", "type": "Category", "value": "Science and Innovation"},
                              {"name": "confidence", "type": "float", "value": 0.75}]
    assert res["inputs"] == {"event": "First powered flight, 1903"}
    assert res["tokens"]["prompt"] > 0 and res["tokens"]["completion"] > 0
    assert res["tokens"]["total"] == res["tokens"]["prompt"] + res["tokens"]["completion"]
    assert res["latencyMs"] > 0 and res["cost"] == 0.0 and res["cacheHit"] is False
    assert res["calls"][0]["predictor"] == "Classify.classify" and "[[ ## category ## ]]" in res["calls"][0]["response"]
    reports = client.progress_reports["t1"]
    assert isinstance(reports[0], lsp.WorkDoneProgressBegin) and "Classify" in reports[0].title
    assert reports[0].cancellable is True
    assert isinstance(reports[-1], lsp.WorkDoneProgressEnd) and "ok" in reports[-1].message
    # streamed partial outputs arrive as reports while the model writes
    partial = [r for r in reports if isinstance(r, lsp.WorkDoneProgressReport)]
    assert any("category=" in (r.message or "") for r in partial), [r.message for r in partial]


async def test_server_created_progress_when_the_client_sends_no_token(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    res = plain(await run(client, {"uri": uri, "name": "ClassifyEvent", "kind": "signature",
                                   "inputs": {"event": "Battle of Nineveh"}}))
    assert res["status"] == "ok" and res["outputs"][0]["value"] == "Wars and Conflicts"
    tokens = [t for t, v in client.progress_reports.items() if v and isinstance(v[0], lsp.WorkDoneProgressBegin)]
    assert tokens, client.progress_reports
    assert isinstance(client.progress_reports[tokens[-1]][-1], lsp.WorkDoneProgressEnd)


async def test_second_run_is_a_fast_cache_hit_with_a_diff_and_history(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    fake.latency = 0.4
    params = {"uri": uri, "kind": "module", "name": "Classify", "inputs": {"event": f"Moon landing {time.time()}"}}
    first = plain(await run(client, params))
    assert first["cacheHit"] is False and first["diff"] is None
    t0 = time.perf_counter()
    second = plain(await run(client, params))
    took = time.perf_counter() - t0
    assert second["cacheHit"] is True and second["cache"] == {"hits": 1, "calls": 1}
    assert took < 0.4, took  # no model call: faster than the fake server's latency alone
    assert second["diff"]["previousId"] == first["id"] and second["diff"]["changed"] is False
    assert [h["id"] for h in second["history"]] == [first["id"], second["id"]]
    # a different input: the diff names the changed field
    third = plain(await run(client, {**params, "inputs": {"event": "Battle of Nineveh"}}))
    changed = {f["name"]: f for f in third["diff"]["fields"] if f["changed"]}
    assert set(changed) == {"category"}
    assert changed["category"]["before"] == "Science and Innovation" and changed["category"]["after"] == "Wars and Conflicts"
    assert third["diff"]["inputsChanged"] is True
    assert '-  "category": "Science and Innovation"' in third["diff"]["text"]
    kept = plain(await client.protocol.send_request_async("lmp/runs", {"uri": uri, "kind": "module", "name": "Classify"}))
    assert [r["id"] for r in kept["runs"]] == [first["id"], second["id"], third["id"]]


async def test_curl_is_copyable_and_never_holds_the_key(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    res = plain(await run(client, {"uri": uri, "kind": "module", "name": "Classify", "noCache": True,
                                   "inputs": {"event": f"my key is {SECRET} please"}}))
    curl = res["curl"]
    assert curl.startswith(f"curl '{fake.url}/chat/completions'")
    assert '"model": "fake-model"' in curl and '"temperature": 0.0' in curl and "[[ ## completed ## ]]" in curl
    sent = fake.completion_requests()[-1].body
    assert f'"max_tokens": {sent["max_tokens"]}' in curl  # the body that was really sent
    assert SECRET not in str(res)
    assert "my key is *** please" in curl


async def test_example_run_compares_with_the_expected_outputs(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    good = plain(await run(client, {"uri": uri, "kind": "example", "name": "nineveh"}))
    assert good["status"] == "ok" and good["target"] == "Classify"
    assert good["expected"] == [{"name": "category", "expected": "Wars and Conflicts",
                                 "actual": "Wars and Conflicts", "passed": True}]
    bad = plain(await run(client, {"uri": uri, "kind": "example", "name": "wrong"}))
    assert bad["status"] == "fail" and bad["expected"][0]["passed"] is False


async def test_model_output_error_carries_the_raw_output(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    fake.responder = lambda body: "I think it is about wars, probably."
    res = plain(await run(client, {"uri": uri, "kind": "module", "name": "Classify", "noCache": True,
                                   "inputs": {"event": "x"}}))
    assert res["status"] == "error"
    assert res["error"]["rawOutput"] == "I think it is about wars, probably."
    assert res["error"]["message"] and res["error"]["predictor"] == "Classify.classify"
    assert res["outputs"] == []


async def test_cancel_request_stops_a_slow_run(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    fake.responder = lambda body: "[[ ## category ## ]]\n" + " ".join(["word"] * 400)
    fake.token_delay = 0.05  # 20 s to stream the whole answer
    t0 = time.perf_counter()
    fut = client.protocol.send_request("lmp/run", {"uri": uri, "kind": "module", "name": "Classify",
                                                   "noCache": True, "inputs": {"event": "slow"},
                                                   "workDoneToken": "slow"}, msg_id="run-slow")
    client.progress_reports.setdefault("slow", [])
    await asyncio.sleep(0.8)
    assert not fut.done()
    client.protocol.notify("$/cancelRequest", lsp.CancelParams(id="run-slow"))
    with pytest.raises(JsonRpcException) as err:
        await asyncio.wait_for(asyncio.wrap_future(fut), 5)
    assert "cancel" in str(err.value).lower()
    assert time.perf_counter() - t0 < 5
    end = client.progress_reports["slow"][-1]
    assert isinstance(end, lsp.WorkDoneProgressEnd) and end.message == "cancelled"
    # the server keeps answering, and the next run goes through
    fake.responder = answer
    fake.token_delay = 0.0
    res = plain(await asyncio.wait_for(run(client, {"uri": uri, "kind": "module", "name": "Classify",
                                                    "noCache": True, "inputs": {"event": "Nineveh"}}), 10))
    assert res["status"] == "ok"


async def test_bad_requests_are_clear_errors(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    with pytest.raises(JsonRpcException, match="no module `Nope`"):
        await run(client, {"uri": uri, "kind": "module", "name": "Nope"})
    with pytest.raises(JsonRpcException, match="has no input `evnt`"):
        await run(client, {"uri": uri, "kind": "module", "name": "Classify", "inputs": {"evnt": "x"}})
    broken = await s.open(tmp_path / "b.lmp", program(fake.url).replace("out confidence: float", "out confidence: flaot"))
    with pytest.raises(JsonRpcException, match=r"error\(s\); fix them before running \(first: b.lmp:"):
        await run(client, {"uri": broken, "kind": "module", "name": "Classify", "inputs": {"event": "x"}})
    assert fake.completion_requests() == []


async def test_inputs_typed_as_text_are_read_by_their_type(client: LanguageClient, tmp_path, fake):
    s = Session(client)
    extra = '''
signature Count {
  in  n: int
  in  tags: list[str]
  out category: Category
}
'''
    uri = await s.open(tmp_path / "c.lmp", program(fake.url, extra))
    with pytest.raises(JsonRpcException, match="n"):
        await run(client, {"uri": uri, "kind": "signature", "name": "Count", "inputs": {"n": "three", "tags": "[]"}})
    res = plain(await run(client, {"uri": uri, "kind": "signature", "name": "Count",
                                   "inputs": {"n": "3", "tags": '["a", "b"]'}}))
    assert res["inputs"] == {"n": 3, "tags": ["a", "b"]} and res["status"] == "ok"


async def test_cancel_from_the_progress_notification(client: LanguageClient, tmp_path, fake):
    """The user presses Cancel on the progress (window/workDoneProgress/cancel): the run stops."""
    s = Session(client)
    uri = await s.open(tmp_path / "c.lmp", program(fake.url))
    fake.responder = lambda body: "[[ ## category ## ]]\n" + " ".join(["word"] * 400)
    fake.token_delay = 0.05
    client.progress_reports.setdefault("p-cancel", [])
    task = asyncio.ensure_future(run(client, {"uri": uri, "kind": "module", "name": "Classify", "noCache": True,
                                              "inputs": {"event": "slow"}}, token="p-cancel"))
    await wait_for_progress(client, "p-cancel")
    client.protocol.notify("window/workDoneProgress/cancel", lsp.WorkDoneProgressCancelParams(token="p-cancel"))
    with pytest.raises(JsonRpcException, match="cancel"):
        await asyncio.wait_for(task, 5)
    assert client.progress_reports["p-cancel"][-1].message == "cancelled"


async def wait_for_progress(client: LanguageClient, token: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(isinstance(r, lsp.WorkDoneProgressReport) for r in client.progress_reports.get(token, [])):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no progress report on {token}")
