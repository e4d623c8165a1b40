"""`lmp optimize`: an optimizer that had nothing to work with says so and does not report success."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.cli_helpers import ROOT, chat, run, write_rows

MULTIHOP = ROOT / "examples" / "multihop"


@pytest.fixture
def multihop(tmp_path: Path) -> Path:
    for name in ("multihop.lmp", "corpus.jsonl"):
        shutil.copy(MULTIHOP / name, tmp_path / name)
    return tmp_path / "multihop.lmp"


def _train(tmp_path: Path, keys: tuple[str, ...]) -> Path:
    rows = [json.loads(line) for line in (MULTIHOP / "train.jsonl").read_text().splitlines()]
    return write_rows(tmp_path / "train.jsonl", [{k: r[k] for k in keys} for r in rows[:4]])


def test_labeled_without_the_retrieved_context_warns_and_fails(tmp_path, multihop, capsys):
    train = _train(tmp_path, ("question", "answer"))
    code, out, err = run(capsys, "optimize", str(multihop), "--train", str(train), "--metric", "exact_match",
                         "--optimizer", "labeled", "--model", "fake:" + chat(query="q", reasoning="r", answer="x"),
                         "-o", str(tmp_path / "s.json"))
    assert code == 1
    assert ("warning: labeled: predictor `MultiHopQA.answer` got no demos: no training row has its input "
            "`context` (list[str]) (the rows have answer, question). Label it in the rows "
            '({..., "context": [...]} on each line of the training file), or use --optimizer bootstrap') in err
    assert "error: no demos or instructions were set for any predictor of MultiHopQA" in err


def test_labeled_with_the_context_labeled_succeeds_and_names_the_predictor_left_out(tmp_path, multihop, capsys):
    train = _train(tmp_path, ("question", "context", "answer"))
    code, out, err = run(capsys, "optimize", str(multihop), "--train", str(train), "--metric", "exact_match",
                         "--optimizer", "labeled", "--model", "fake:" + chat(query="q", reasoning="r", answer="x"),
                         "-o", str(tmp_path / "s.json"))
    assert code == 0, err
    assert "MultiHopQA.answer: 4 demos" in out
    # gen_query's output `query` is never labeled: its missing demos are named, not silent.
    assert "predictor `MultiHopQA.gen_query` got no demos: no training row has any of its outputs `query`" in err
    assert "error:" not in err


def test_bootstrap_teacher_phase_shows_progress_with_an_eta(tmp_path, multihop, capsys, monkeypatch):
    import sys

    train = _train(tmp_path, ("question", "context", "answer"))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # progress bars are for terminals
    code, _, err = run(capsys, "optimize", str(multihop), "--train", str(train), "--metric", "exact_match",
                       "--optimizer", "bootstrap", "--model", "fake:" + chat(query="q", reasoning="r", answer="x"),
                       "-o", str(tmp_path / "s.json"))
    assert "teacher: running the program over up to 4 training example(s) until 4 pass the metric" in err
    frames = [f for f in err.split("\r") if f.startswith("teacher [")]
    assert frames and "1/4 " in frames[0] and "ETA " in frames[0] and "0/4 passed" in frames[0]
    assert "dev before [" in err and "ETA " in err.split("dev before [", 1)[1]
