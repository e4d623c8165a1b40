"""`lmp fmt`: in place, --check, --diff, errors and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmp.cli.main import main

MESSY = 'model  m="x"\n'
CLEAN = 'model m = "x"\n'


def test_rewrites_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.lmp"
    f.write_text(MESSY)
    (tmp_path / "b.lmp").write_text(CLEAN)
    assert main(["fmt", str(tmp_path)]) == 0
    assert f.read_text() == CLEAN
    assert "1 reformatted, 1 unchanged" in capsys.readouterr().err


def test_check_lists_files_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.lmp"
    f.write_text(MESSY)
    assert main(["fmt", "--check", str(f)]) == 1
    assert "would reformat" in capsys.readouterr().out
    assert f.read_text() == MESSY
    f.write_text(CLEAN)
    assert main(["fmt", "--check", str(f)]) == 0


def test_diff_prints_unified_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.lmp"
    f.write_text(MESSY)
    assert main(["fmt", "--diff", str(f)]) == 0
    out = capsys.readouterr().out
    assert '-model  m="x"' in out and '+model m = "x"' in out
    assert f.read_text() == MESSY


def test_syntax_error_exit_1_with_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.lmp"
    f.write_text("type T = str\nmodule M( {\n")
    good = tmp_path / "good.lmp"
    good.write_text(MESSY)
    assert main(["fmt", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"bad\.lmp:\d+:\d+: ", err)
    assert good.read_text() == CLEAN  # other files are still formatted
    assert f.read_text() == "type T = str\nmodule M( {\n"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["fmt", str(tmp_path / "missing.lmp")]) == 2
    assert main(["fmt", str(tmp_path)]) == 2  # no .lmp files


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(MESSY))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == CLEAN
