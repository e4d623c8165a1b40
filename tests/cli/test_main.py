"""The `lmp` entry point: warnings read like lmp's errors, not like Python's."""

from __future__ import annotations

import shutil
from pathlib import Path

from lmp.cli.main import main

CLASSIFY = Path(__file__).resolve().parents[2] / "examples" / "classify"


def test_stale_state_warning_is_one_plain_line(tmp_path, capsys):
    for name in ("classify.lmp", "classify.state.json"):
        shutil.copy(CLASSIFY / name, tmp_path / name)
    prog = tmp_path / "classify.lmp"
    prog.write_text(prog.read_text().replace('out confidence: float "between 0 and 1"',
                                             'out confidence: float "between 0 and 1"\n  out note: str'))
    assert main(["preview", str(prog), "Classify.classify", "-i", "event=x"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: state ") and "the signature of `Classify.classify` changed" in err
    assert "StateWarning" not in err and "interpreter.py" not in err
