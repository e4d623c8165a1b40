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
