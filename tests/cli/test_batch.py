"""`lmp run --input rows.jsonl`: every row is accounted for, by its line number, and nothing is lost."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lmp.runtime import batch, settings
from lmp.runtime.lm import FakeLM, History
from tests.cli.cli_helpers import ECHO, chat, run, write_rows

GOOD = chat(answer="yes")


@pytest.fixture
def label(tmp_path: Path) -> Path:
    """A program whose answer must be "yes" or "no", so other text is a failed row."""
    prog = tmp_path / "label.lmp"
    prog.write_text(ECHO.replace("out answer: str", 'out answer: "yes" | "no"').replace(
        "-> (answer: str)", '-> (answer: "yes" | "no")'))
    return prog


def _fail_on(*texts: str) -> None:
    """Rows whose text is one of `texts` get an answer that is not yes/no (the repair turn too)."""

    def answer(messages: list[dict[str, str]]) -> str:
        user = messages[1]["content"] if len(messages) > 1 else ""
        return "not an answer" if any(f"\n{t}\n" in user + "\n" for t in texts) else GOOD

    settings.configure(lm=FakeLM(answer, history=History()))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_failed_rows_are_named_by_their_line_from_1(tmp_path, label, capsys):
    _fail_on("t3")
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": f"t{i}"} for i in range(1, 5)])
    code, _, err = run(capsys, "run", str(label), "--input", str(rows))
    assert code == 1
    assert f"  {rows}:3: LMOutputError" in err and ":2: " not in err
    assert "3 row(s) done, 0 already done, 1 failed" in err
    assert [r["_row"] for r in _records(tmp_path / "rows.out.jsonl")] == [1, 2, 3, 4]


def test_every_malformed_line_is_reported_and_the_good_ones_run(tmp_path, label, capsys):
    _fail_on()
    rows = write_rows(tmp_path / "rows.jsonl", ['{"text": "t1"}', '{"text": "t2"', "", '["t4"]', '{"text": "t5"}'])
    code, _, err = run(capsys, "run", str(label), "--input", str(rows))
    assert code == 1
    assert f"{rows}:2: not valid JSON" in err and f"{rows}:4: expected a JSON object of inputs, got list" in err
    assert "2 row(s) done, 0 already done, 2 failed" in err
    recs = _records(tmp_path / "rows.out.jsonl")
    assert [r["_row"] for r in recs] == [1, 2, 4, 5]  # numbered by input line (line 3 is blank)
    assert [r.get("output", {}).get("answer") for r in recs] == ["yes", None, None, "yes"]
    assert "not valid JSON" in recs[1]["error"]


def test_unknown_keys_are_named_once(tmp_path, label, capsys):
    _fail_on()
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": "a", "txet": "x", "gold": 1}, {"text": "b", "gold": 2}])
    code, _, err = run(capsys, "run", str(label), "--input", str(rows))
    assert code == 0
    assert err.count("warning:") == 1
    assert ("these keys are not an input of E and are not passed to it: `txet` (1 row), `gold` (2 rows); its "
            "inputs are text") in err


def test_summary_says_how_many_failures_are_not_listed(tmp_path, label, capsys):
    _fail_on(*(f"t{i}" for i in range(1, 9)))
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": f"t{i}"} for i in range(1, 10)])
    code, _, err = run(capsys, "run", str(label), "--input", str(rows))
    assert code == 1
    assert err.count("LMOutputError") == 5
    assert f"  ... and 3 more; see {tmp_path / 'rows.out.jsonl'}" in err


def test_resume_after_a_torn_last_line_keeps_every_row_exactly_once(tmp_path, label, capsys):
    _fail_on()
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": f"t{i}"} for i in range(1, 6)])
    assert run(capsys, "run", str(label), "--input", str(rows))[0] == 0
    out = tmp_path / "rows.out.jsonl"
    lines = out.read_text().splitlines(keepends=True)
    # A kill while row 3 was being written: rows 1-2 whole, row 3 half a line, rows 4-5 never written.
    out.write_text(lines[0] + lines[1] + lines[2][: len(lines[2]) // 2])
    code, _, err = run(capsys, "run", str(label), "--input", str(rows))
    assert code == 0, err
    assert "3 row(s) done, 2 already done, 0 failed" in err and "half-written line" in err
    recs = _records(out)
    assert [r["_row"] for r in recs] == [1, 2, 3, 4, 5]
    assert all(r["output"] == {"answer": "yes"} for r in recs)


def test_a_row_without_exactly_one_record_is_an_error(tmp_path, label, capsys, monkeypatch):
    _fail_on()
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": f"t{i}"} for i in range(1, 4)])
    real = batch.compact

    def lose_row_2(output: str, rows: list) -> None:  # what a lost write looks like at the end
        real(output, rows)
        kept = [line for line in Path(output).read_text().splitlines(keepends=True) if '"_row": 2' not in line]
        Path(output).write_text("".join(kept))

    monkeypatch.setattr(batch, "compact", lose_row_2)
    code, _, err = run(capsys, "run", str(label), "--input", str(rows))
    assert code == 1
    assert "error: 1 input row(s) do not have exactly one result" in err and "(rows 2)" in err


def test_verify_counts_records_per_row(tmp_path):
    rows = [batch.Row(1, {"x": 1}), batch.Row(2, {"x": 2}), batch.Row(3, None, "not valid JSON")]
    out = tmp_path / "out.jsonl"
    row_hash = batch.row_hash
    out.write_text("".join(json.dumps(r) + "\n" for r in [
        {"_row": 1, "_hash": row_hash({"x": 1}), "output": 1}, {"_row": 1, "_hash": row_hash({"x": 1}), "output": 1},
        {"_row": 3, "_hash": None, "error": "not valid JSON"}]))
    assert batch.verify(str(out), rows) == [1, 2]


def test_read_rows_keeps_bad_lines_with_their_numbers(tmp_path):
    path = write_rows(tmp_path / "rows.jsonl", ['{"a": 1}', "nope", "", "3"])
    rows = batch.read_rows(str(path))
    assert [(r.number, r.data is not None) for r in rows] == [(1, True), (2, False), (4, False)]


def test_progress_shows_an_eta():
    stream = io.StringIO()
    bar = batch.Progress(10, stream=stream, enabled=True)
    bar.update(True)
    bar.update(False)
    line = stream.getvalue().rsplit("\r", 1)[-1]
    assert "2/10" in line and "ETA " in line and "1 failed" in line


def test_library_batch_numbers_dict_rows_from_1(tmp_path):
    out = tmp_path / "out.jsonl"
    s = batch.run_batch(lambda inputs: {"y": inputs["x"]}, [{"x": 5}, {"x": 6}], str(out), progress=False)
    assert (s.done, s.missing) == (2, [])
    assert [r["_row"] for r in _records(out)] == [1, 2]
