"""`test` blocks from the editor: `lmp/runTargets` lists them, `lmp/runTests` runs them (pass, fail with
each failed expectation at its range, error), streams `lmp/testResult` notifications, and `lmp/run`
with kind "test" runs one for the panel (with a diff against its previous run)."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.conftest import Session, position_of
from tests.lsp.test_playground import client, fake, plain, program  # noqa: F401 - fixtures

TESTS = '''
test nineveh for Classify {
  event: "Battle of Nineveh"
  expect category == "Wars and Conflicts"
  check confidence > 0.5
}

test flight for Classify {
  event: "First powered flight"
  expect category == "Wars and Conflicts"
  check confidence > 0.9
}
'''


async def test_targets_list_tests_with_ranges(client: LanguageClient, tmp_path, fake):  # noqa: F811
    s = Session(client)
    text = program(fake.url, TESTS)
    uri = await s.open(tmp_path / "t.lmp", text)
    res = plain(await client.protocol.send_request_async("lmp/runTargets", {"uri": uri}))
    tests = [t for t in res["targets"] if t["kind"] == "test"]
    assert [t["name"] for t in tests] == ["nineveh", "flight"]
    assert tests[0]["target"] == "Classify"
    start = position_of(text, "nineveh for")
    assert tests[0]["range"]["start"] == {"line": start.line, "character": start.character}
    lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(text_document=s.tdi(uri)))
    assert sum(1 for lens in lenses if lens.command.title == "▶ Run test") == 2
    assert fake.completion_requests() == []


async def test_run_tests_pass_and_fail_at_the_expectation(client: LanguageClient, tmp_path, fake):  # noqa: F811
    s = Session(client)
    text = program(fake.url, TESTS)
    uri = await s.open(tmp_path / "t.lmp", text)
    client.progress_reports.setdefault("tt", [])
    res = plain(await client.protocol.send_request_async("lmp/runTests", {"uri": uri, "workDoneToken": "tt"}))
    by = {r["name"]: r for r in res["results"]}
    assert by["nineveh"]["status"] == "pass" and by["flight"]["status"] == "fail"
    failed = [e for e in by["flight"]["expectations"] if not e["passed"]]
    assert [e["kind"] for e in failed] == ["expect", "check"]
    msg = failed[0]["message"]
    assert "Science and Innovation" in msg and "Wars and Conflicts" in msg
    # the failed expectation's range is the line in the second test block
    at = position_of(text, 'expect category == "Wars and Conflicts"', nth=1)
    assert failed[0]["range"]["start"]["line"] == at.line
    assert by["flight"]["outputs"][0] == {"name": "category", "type": "Category", "value": "Science and Innovation"}
    assert by["flight"]["tokens"]["total"] > 0 and by["flight"]["curl"].startswith("curl '")
    ends = [r for r in client.progress_reports["tt"] if isinstance(r, lsp.WorkDoneProgressEnd)]
    assert ends and "1 pass" in ends[-1].message and "1 fail" in ends[-1].message


async def test_run_one_test_by_name_and_unknown_names(client: LanguageClient, tmp_path, fake):  # noqa: F811
    s = Session(client)
    uri = await s.open(tmp_path / "t.lmp", program(fake.url, TESTS))
    res = plain(await client.protocol.send_request_async("lmp/runTests", {"uri": uri, "names": ["flight"]}))
    assert [r["name"] for r in res["results"]] == ["flight"]
    one = plain(await client.protocol.send_request_async("lmp/run", {"uri": uri, "kind": "test", "name": "flight"}))
    assert one["status"] == "fail" and one["diff"]["previousId"] == res["results"][0]["id"]
    assert one["diff"]["changed"] is False
    with pytest.raises(JsonRpcException, match="no test `nope`"):
        await client.protocol.send_request_async("lmp/runTests", {"uri": uri, "names": ["nope"]})


async def test_results_stream_as_notifications(client: LanguageClient, tmp_path, fake):  # noqa: F811
    s = Session(client)
    uri = await s.open(tmp_path / "t.lmp", program(fake.url, TESTS))
    seen: list = []
    client.feature("lmp/testResult")(lambda ls, params: seen.append(plain(params)))
    await client.protocol.send_request_async("lmp/runTests", {"uri": uri})
    assert [p["result"]["name"] for p in seen] == ["nineveh", "flight"]
    assert all(p["uri"] == uri for p in seen)
