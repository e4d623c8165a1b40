"""`lmp history`: a bad line is skipped with a warning naming it; a bad --last is a usage error."""

from __future__ import annotations

import json

import pytest

from lmp.cli.main import main
from tests.cli.cli_helpers import run

GOOD = {"model": "fake", "messages": [{"role": "user", "content": "hello"}], "response": "hi", "time": 1.0}


def test_invalid_lines_are_skipped_with_their_line_numbers(tmp_path, capsys):
    path = tmp_path / "history.jsonl"
    lines = [json.dumps(GOOD), "[1, 2]", "not json", '{"model": "m", "messages": "oops"}', "",
             json.dumps({**GOOD, "time": "yesterday"}), json.dumps({**GOOD, "response": "bye"})]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "history", "--file", str(path))
    assert code == 0
    assert out.count("── ") == 2 and "[response] hi" in out and "[response] bye" in out
    assert err == f"warning: {path}: skipped 4 line(s) that are not call records (lines 2, 3, 4, 6)\n"
    code, out, _ = run(capsys, "history", "--file", str(path), "--json")
    assert code == 0 and len(out.splitlines()) == 2


@pytest.mark.parametrize(("value", "message"), [("-1", "expected 0 (all) or a positive number of calls, got -1"),
                                                ("x", "expected a whole number of calls, got 'x'")])
def test_last_must_be_a_count(capsys, value, message):
    with pytest.raises(SystemExit) as info:
        main(["history", "--last", value])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


TESTED = '''signature Echo {
  in  text: str
  out answer: str
}

module E(text: str) -> (answer: str) {
  let p = Predict(Echo)
  return p(text: text)
}

test greets for E {
  text: "hello"
  expect answer == "hi"
}
'''
# A key with no well-known shape: only lmp's knowledge of credential-named variables can mask it.
ENV_KEY = "plainvalue0123456789abcdefASDFGH"


def test_lmp_test_and_lmp_run_calls_are_listed_with_their_source(tmp_path, capsys, monkeypatch):
    from tests.cli.cli_helpers import chat

    monkeypatch.setenv("MY_SERVICE_API_KEY", ENV_KEY)
    prog = tmp_path / "tested.lmp"
    prog.write_text(TESTED)
    model = "default=fake:" + chat(answer="hi")
    code, out, _ = run(capsys, "test", str(prog), "--model", model)
    assert code == 0 and "1 passed" in out
    # the key is in the prompt of this run (typed as an input), never in the history
    code, _, _ = run(capsys, "run", str(prog), "-i", f"text=hello {ENV_KEY}", "--model", model)
    assert code == 0
    code, out, _ = run(capsys, "history")
    # each call's header runs to its first message (the fake model's id spans lines)
    headers = [block.split("\n  [user]")[0] for block in out.split("── ")[1:]]
    assert len(headers) == 2
    assert " · E.p · " in headers[0] and headers[0].endswith(" · test greets (tested.lmp) · unconstrained")
    assert headers[1].endswith(" · run · unconstrained")
    assert "hello ***" in out and ENV_KEY not in out
    code, out, _ = run(capsys, "history", "--source", "test", "--json")
    tags = [json.loads(line)["tags"] for line in out.splitlines()]
    assert tags == [{"source": "test", "test": "greets", "file": str(prog)}]
    code, out, _ = run(capsys, "history", "--source", "playground")
    assert out == "no model calls from playground recorded\n"
    raw = (tmp_path / "cache" / "history.jsonl").read_text()
    assert ENV_KEY not in raw and '"source": "run"' in raw
