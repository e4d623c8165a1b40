"""`lmp run --trace` and `lmp history` show how each answer was read into its declared types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.cli_helpers import chat, run

PICK = """signature Pick {
  in question: str
  out answer: "A" | "B" | "C"
  out confidence: float
}

module P(question: str) -> (answer: "A" | "B" | "C", confidence: float) {
  let p = Predict(Pick)
  return p(question: question)
}
"""

NOTES = ['answer: "A. build trust" -> "A" (answer label)', 'confidence: "90%" -> 0.9 (percent)']


def test_trace_and_history_show_the_coercions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prog = tmp_path / "pick.lmp"
    prog.write_text(PICK)
    model = "fake:" + chat(answer="A. build trust", confidence="90%")
    code, out, err = run(capsys, "run", str(prog), "-i", "question=Why?", "--model", model, "--trace")
    assert code == 0 and out == "answer: A\nconfidence: 0.9\n"
    assert "  [coercions]\n    " + "\n    ".join(NOTES) + "\n" in err
    code, out, _ = run(capsys, "history", "--last", "1")
    assert code == 0 and "  [coercions] " + "\n    ".join(NOTES) + "\n" in out
    code, out, _ = run(capsys, "history", "--json")
    assert code == 0 and [json.loads(line)["coercions"] for line in out.splitlines()] == [NOTES]


def test_a_canonical_answer_has_no_coercions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prog = tmp_path / "pick.lmp"
    prog.write_text(PICK)
    code, _, err = run(capsys, "run", str(prog), "-i", "question=Why?", "--model",
                       "fake:" + chat(answer="B", confidence="0.5"), "--trace")
    assert code == 0 and "[coercions]" not in err
    code, out, _ = run(capsys, "history", "--last", "1")
    assert code == 0 and "[coercions]" not in out
