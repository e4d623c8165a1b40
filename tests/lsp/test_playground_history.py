"""Editor runs land in `lmp history`: a module run through `lmp/run` and the test blocks run through
`lmp/runTests` (a real `lmp lsp` process, a loopback fake OpenAI-compatible server) are appended to the
history.jsonl `lmp history` reads, tagged `playground` with what ran, and no key reaches that file."""

from __future__ import annotations

import json
import os
import sys
import tempfile

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.cli.cli_helpers import run as run_cli
from tests.lsp.conftest import Session
from tests.lsp.test_playground import fake, plain, program  # noqa: F401 - fixtures

# A key without a well-known shape: only lmp's knowledge of the environment and of the model's
# `api_key` setting can mask it.
KEY = "plainvalue0123456789abcdefQWERTY"
OPENAI_KEY = "sk-test-0123456789abcdefHISTORYKEY"
CACHE = tempfile.mkdtemp(prefix="lmp-pg-history-")
SERVER_ENV = {**os.environ, "LMP_CACHE_DIR": CACHE, "OPENAI_API_KEY": OPENAI_KEY, "PG_HISTORY_KEY": KEY}

TESTS = '''
test nineveh for Classify {
  event: "Battle of Nineveh"
  expect category == "Wars and Conflicts"
}
'''


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "lmp", "lsp", "--stdio"],
                                              server_env=SERVER_ENV))
async def client(lsp_client: LanguageClient):
    params = lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"),
                                  initialization_options={"debounceMs": 50})
    await lsp_client.initialize_session(params)
    yield lsp_client
    await lsp_client.shutdown_session()


def history(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """`lmp history ARGS` over the server's cache folder, as the user would type it."""
    monkeypatch.setenv("LMP_CACHE_DIR", CACHE)
    capsys.readouterr()
    code, out, err = run_cli(capsys, "history", *args)
    assert code == 0, err
    return out


def keyed_program(url: str) -> str:
    # the model reads its key from the environment through its `api_key` setting
    return program(url, TESTS).replace(f'api_base: "{url}",', f'api_base: "{url}", api_key: env("PG_HISTORY_KEY"),')


async def test_a_playground_run_is_listed_by_lmp_history_without_its_key(client: LanguageClient, tmp_path, fake,  # noqa: F811
                                                                        capsys, monkeypatch):
    s = Session(client)
    text = keyed_program(fake.url)
    assert 'api_key: env("PG_HISTORY_KEY")' in text
    uri = await s.open(tmp_path / "pgrun.lmp", text)
    # the key is also typed into an input: it is in the prompt sent, never in the history
    res = plain(await client.protocol.send_request_async(
        "lmp/run", {"uri": uri, "kind": "module", "name": "Classify", "inputs": {"event": f"Battle of Nineveh {KEY}"}}))
    assert res["status"] == "ok", res
    sent = fake.completion_requests()
    # the model did get the key (from the `api_key` setting) and the key-bearing prompt
    assert len(sent) == 1 and sent[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY in json.dumps(sent[0].body)

    out = history(capsys, monkeypatch, "--last", "0")
    header = next(line for line in out.splitlines() if "pgrun.lmp" in line)
    assert "openai/fake-model" in header and "Classify.classify" in header
    assert "· playground: module Classify (pgrun.lmp)" in header
    assert "Battle of Nineveh ***" in out and KEY not in out

    records = [json.loads(line) for line in history(capsys, monkeypatch, "--json", "--source", "playground",
                                                      "--last", "0").splitlines()]
    mine = [r for r in records if r["tags"].get("file") == str(tmp_path / "pgrun.lmp")]
    assert len(mine) == 1
    assert mine[0]["tags"]["source"] == "playground" and mine[0]["tags"]["run"] == "module Classify"
    assert mine[0]["prompt_tokens"] == res["tokens"]["prompt"] and mine[0]["response"] == res["calls"][0]["response"]
    # the file itself, not only what `lmp history` shows of it, holds neither key
    raw = open(os.path.join(CACHE, "history.jsonl"), encoding="utf-8").read()
    assert "pgrun.lmp" in raw and KEY not in raw and OPENAI_KEY not in raw


async def test_editor_test_runs_are_listed_with_the_test_name(client: LanguageClient, tmp_path, fake,  # noqa: F811
                                                             capsys, monkeypatch):
    s = Session(client)
    uri = await s.open(tmp_path / "pgtests.lmp", keyed_program(fake.url))
    res = plain(await client.protocol.send_request_async("lmp/runTests", {"uri": uri}))
    assert [(r["name"], r["status"]) for r in res["results"]] == [("nineveh", "pass")]
    out = history(capsys, monkeypatch, "--source", "playground", "--last", "0")
    assert "· playground: test nineveh (pgtests.lmp)" in out
    # `--source` keeps only what it names: no editor run is a `lmp test` run
    assert "pgtests.lmp" not in history(capsys, monkeypatch, "--source", "test", "--last", "0")
