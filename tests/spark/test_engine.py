"""`lmp run --engine spark` and the UDF against `lmp run --input` on the same 1,000 rows (local[2],
loopback fake server), then a run with injected 500s and garbage answers and `--retry-failed`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmp.cli.main import main
from tests.spark.support import MODEL, TRIAGE

ROWS = 1000


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("spark-run")
    (d / "triage.lmp").write_text(TRIAGE)
    lines = []
    for i in range(ROWS):
        if i == 100:
            lines.append("")  # blank lines are not rows, in both engines
        if i == 200:
            lines.append("{not json")  # a failed row without a model call
        lines.append(json.dumps({"ticket": f"ticket {i}: printer {i % 13} is on fire", "customer": i}))
    (d / "rows.jsonl").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture(scope="module")
def local_records(workdir: Path) -> dict[int, dict[str, Any]]:
    """`lmp run --input` on the rows: the reference."""
    return {}


def _local(workdir: Path, capsys: pytest.CaptureFixture[str]) -> dict[int, dict[str, Any]]:
    out = workdir / "local.jsonl"
    if not out.exists():
        code = main(["run", str(workdir / "triage.lmp"), "--input", str(workdir / "rows.jsonl"), "--output", str(out),
                     "--model", f"default={MODEL}", "--no-cache", "--concurrency", "16"])
        capsys.readouterr()
        assert code == 1  # the one line that is not JSON
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    return {r["_row"]: r for r in recs}


def _spark_run(workdir: Path, out: str, *extra: str) -> int:
    return main(["run", str(workdir / "triage.lmp"), "--engine", "spark", "--spark-master", "local[2]",
                 "--input", str(workdir / "rows.jsonl"), "--out", out, "--model", f"default={MODEL}", "--no-cache",
                 "--concurrency", "16", "--partitions", "4", *extra])


def _results(spark: Any, out: str) -> dict[int, dict[str, Any]]:
    from lmp.spark.jobs import read_results

    rows = [r.asDict(recursive=True) for r in read_results(spark, out).collect()]
    by_row = {r["_row"]: r for r in rows}
    assert len(by_row) == len(rows), "a row has two records"
    return by_row


def _same_as_local(local: dict[int, dict[str, Any]], got: dict[int, dict[str, Any]]) -> None:
    assert sorted(got) == sorted(local)
    for n, ref in local.items():
        rec = got[n]
        assert rec["_hash"] == ref["_hash"], n
        if "output" in ref:
            assert rec["_error"] is None, (n, rec["_error"])
            assert rec["output"] == ref["output"], n
            assert json.loads(rec["input"]) == ref["input"], n
        else:
            assert rec["_error"] == ref["error"] and rec["output"] is None, n


def test_cli_and_udf_give_the_outputs_of_lmp_run_input(spark, fake, workdir, capsys):
    local = _local(workdir, capsys)
    assert len(local) == ROWS + 1 and sum("output" in r for r in local.values()) == ROWS
    out = str(workdir / "out")
    code = _spark_run(workdir, out)
    err = capsys.readouterr().err
    assert code == 1, err  # the not-JSON line, as locally
    assert f"{ROWS + 1} row(s) run (0 already done) of {ROWS + 1}" in err and "1 failed" in err
    assert "rows.jsonl:202: not valid JSON" in err  # its line number (after the blank line)
    _same_as_local(local, _results(spark, out))

    # The UDF path on the same rows (the DataFrame a user would have), compared row by row.
    import lmp.spark

    f = lmp.spark.udf(str(workdir / "triage.lmp"), "Run", models={"default": MODEL}, cache=False, concurrency=16)
    tickets = [(n, r["input"]["ticket"]) for n, r in local.items() if "output" in r]
    df = spark.createDataFrame(tickets, "n long, ticket string").repartition(4)
    got = {r["n"]: r["r"].asDict(recursive=True) for r in df.select("n", f().alias("r")).collect()}
    assert len(got) == ROWS
    for n, r in got.items():
        assert r.pop("_error") is None
        assert r == local[n]["output"], n


def test_failures_are_kept_and_retry_failed_completes_them(spark, fake, workdir, capsys):
    local = _local(workdir, capsys)
    out = str(workdir / "faulty")

    def fault(body: dict[str, Any]) -> str | None:
        text = json.dumps(body["messages"])
        if "printer 3 is" in text:
            return "500"
        if "printer 7 is" in text:
            return "garbage"
        return None

    fake.fault = fault
    before = len(fake.completion_requests())
    code = _spark_run(workdir, out)
    err = capsys.readouterr().err
    assert code == 1
    first = _results(spark, out)
    assert sorted(first) == sorted(local)  # every row has exactly one record, answered or failed
    failed = {n for n, r in first.items() if r["_error"] is not None}
    faulty = {n for n, r in local.items() if "output" in r and any(f"printer {k} is" in r["input"]["ticket"]
                                                                    for k in (3, 7))}
    assert failed == faulty | {202}
    assert all(first[n]["output"] is None for n in failed)
    assert any("500" in first[n]["_error"] or "InternalServerError" in first[n]["_error"] for n in failed)
    assert "Rerun with --retry-failed" in err
    assert not any("printer 3 is" in json.dumps(r["input"]) for r in first.values() if r["_error"] is None
                   and r["input"] is not None and "printer 3 is" in r["input"])

    # Rerunning without --retry-failed would overwrite finished work: refused.
    assert _spark_run(workdir, out) == 2
    assert "--retry-failed" in capsys.readouterr().err

    fake.fault = None
    calls_before_retry = len(fake.completion_requests())
    assert calls_before_retry > before
    code = _spark_run(workdir, out, "--retry-failed")
    err = capsys.readouterr().err
    assert code == 1, err  # only the not-JSON line still fails
    assert f"({ROWS - len(faulty)} already done)" in err
    # Only the failed rows called the model again (one call each: the server is healthy now).
    assert len(fake.completion_requests()) - calls_before_retry == len(faulty)
    _same_as_local(local, _results(spark, out))
