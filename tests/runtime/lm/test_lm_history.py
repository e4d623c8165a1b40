from __future__ import annotations

import json

from lmp.runtime.lm import CallRecord, History, LMResponse, scrub

SECRET = "sk-abcdefghijklmnopqrstuvwxyz123456"


def test_totals_sum_tokens_cost_and_cache_hits():
    h = History()
    msgs = [{"role": "user", "content": "hi"}]
    h.add(CallRecord.from_response(msgs, LMResponse("a", "m", 10, 2, cost=0.01, latency_s=0.5)))
    h.add(CallRecord.from_response(msgs, LMResponse("a", "m", 10, 2, cached=True)))
    h.add(CallRecord(model="m", messages=msgs, error="boom"))
    t = h.totals()
    assert (t.calls, t.cached, t.errors) == (3, 1, 1)
    assert t.prompt_tokens == 20 and t.completion_tokens == 4 and t.tokens == 24
    assert abs(t.cost - 0.01) < 1e-12


def test_secrets_scrubbed_in_memory_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MYPROVIDER_API_KEY", "plainvaluekey99")
    path = tmp_path / "history.jsonl"
    h = History(path)
    h.add(
        CallRecord(
            model="m",
            messages=[{"role": "user", "content": f"my key is {SECRET} and plainvaluekey99"}],
            error=f"401 Incorrect API key provided: {SECRET}",
            params={"api_key": SECRET, "temperature": 0, "headers": {"Authorization": "Bearer xyzxyzxyzxyz"}},
        )
    )
    text = path.read_text()
    assert SECRET not in text and "plainvaluekey99" not in text and "xyzxyzxyzxyz" not in text
    rec = h.records()[0]
    assert SECRET not in json.dumps(rec.to_dict())
    assert rec.params == {"temperature": 0}
    assert "***" in rec.messages[0]["content"]


def test_jsonl_round_trip_and_torn_line(tmp_path):
    path = tmp_path / "h.jsonl"
    h = History(path)
    for i in range(3):
        h.add(CallRecord(model="m", messages=[], response=str(i), prompt_tokens=i))
    with path.open("a") as fh:
        fh.write('{"model": "m", "messa')  # a process killed mid-write
    recs = History.read_file(path)
    assert [r.response for r in recs] == ["0", "1", "2"]
    assert [r.response for r in History.read_file(path, limit=2)] == ["1", "2"]


def test_scrub_leaves_normal_text():
    assert scrub("max_tokens=5, the answer is 42") == "max_tokens=5, the answer is 42"
    assert "sk-" not in scrub("key sk-123456789012345678")


def test_source_and_context_tags_reach_every_record_and_the_file(tmp_path):
    import contextvars
    import threading

    from lmp.runtime.lm.history import tag_calls

    path = tmp_path / "history.jsonl"
    h = History(path, source="playground")
    msgs = [{"role": "user", "content": "hi"}]
    with tag_calls(run="module M", file="/w/p.lmp"), tag_calls(test="t1", file=None):
        # a worker thread started with a copy of the context (how runs fan out) tags its calls too
        ctx = contextvars.copy_context()
        worker = threading.Thread(target=ctx.run, args=(h.add, CallRecord(model="m", messages=msgs)))
        worker.start()
        worker.join()
        # the record's own tags win over the context's; a key in a tag is masked like any text
        h.add(CallRecord(model="m", messages=msgs, tags={"test": "own", "note": SECRET}))
    h.add(CallRecord(model="m", messages=msgs))
    expected = [{"source": "playground", "run": "module M", "file": "/w/p.lmp", "test": "t1"},
                {"source": "playground", "run": "module M", "file": "/w/p.lmp", "test": "own", "note": "***"},
                {"source": "playground"}]
    assert [r.tags for r in h.records()] == expected
    assert [r.tags for r in History.read_file(path)] == expected
    h2 = History()
    h2.add(CallRecord(model="m", messages=msgs))
    assert h2.records()[0].tags == {}
