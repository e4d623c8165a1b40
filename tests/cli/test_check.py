from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmp.cli.main import main

BAD = """signature GenerateQuery = "context: list[str], question -> query"

module M(question: str) -> (answer: str) {
  let gen = Predict(GenerateQuery)
  q = gen(context: [], question: question)
  return (answer: q.querry)
}
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "ok.lmp"
    f.write_text(BAD.replace("querry", "query"))
    code, out, _ = run(capsys, "check", str(f))
    assert code == 0
    assert "0 error(s)" in out


def test_errors_print_location_code_hint_and_caret(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.lmp").write_text(BAD)
    code, out, _ = run(capsys, "check", "bad.lmp")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "bad.lmp:6:21: error[E050]: `q` has no field `querry`"
    assert lines[1] == "   6 |   return (answer: q.querry)"
    assert lines[2] == "     |                     ^^^^^^"
    assert lines[3] == "     = hint: did you mean `query`?"


def test_json_format_is_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.lmp"
    f.write_text(BAD)
    code, out, _ = run(capsys, "check", "--format", "json", str(tmp_path))
    assert code == 1
    payload = json.loads(out)
    assert payload["version"] == 1
    assert payload["summary"] == {"errors": 1, "warnings": 0, "files": 1}
    [d] = payload["diagnostics"]
    assert d["code"] == "E050" and d["severity"] == "error"
    assert d["range"]["start"] == {"line": 6, "column": 21, "offset": BAD.index("querry")}
    assert d["fixes"][0]["text"] == "query"


def test_usage_errors_exit_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", str(tmp_path / "missing.lmp"))
    assert code == 2
    assert "no such file" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "check", str(empty))
    assert code == 2


def test_binary_junk_is_a_diagnostic_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "junk.lmp"
    f.write_bytes(bytes(range(256)) * 10)
    code, out, err = run(capsys, "check", str(f))
    assert code == 1
    assert "E002" in out and "Traceback" not in out + err
