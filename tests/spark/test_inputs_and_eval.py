"""`lmp run --engine spark` on Parquet and CSV inputs, and `lmp eval --engine spark` against the local
evaluation (same table, score, interval and totals)."""

from __future__ import annotations

import json
import re

from lmp.cli.main import main
from tests.spark.support import MODEL, TRIAGE

N = 24


def _tickets() -> list[str]:
    return [f"ticket {i}: the \"scanner\", {i % 5} is broken" for i in range(N)]


def test_parquet_and_csv_inputs_give_the_jsonl_outputs(spark, fake, tmp_path, capsys):
    import pandas as pd

    prog = tmp_path / "triage.lmp"
    prog.write_text(TRIAGE)
    tickets = _tickets()
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("".join(json.dumps({"ticket": t}) + "\n" for t in tickets))
    assert main(["run", str(prog), "--input", str(jsonl), "--output", str(tmp_path / "local.jsonl"),
                 "--model", f"default={MODEL}", "--no-cache"]) == 0
    local = {r["_row"]: r for r in map(json.loads, (tmp_path / "local.jsonl").read_text().splitlines())}
    frame = pd.DataFrame({"id": range(N), "ticket": tickets})
    frame.to_parquet(tmp_path / "rows.parquet")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    from lmp.spark.jobs import read_results

    for name in ("rows.parquet", "rows.csv"):
        out = str(tmp_path / f"out-{name}")
        code = main(["run", str(prog), "--engine", "spark", "--input", str(tmp_path / name), "--out", out,
                     "--model", f"default={MODEL}", "--no-cache", "--partitions", "3"])
        err = capsys.readouterr().err
        assert code == 0, err
        got = {r["_row"]: r.asDict(recursive=True) for r in read_results(spark, out).collect()}
        assert sorted(got) == sorted(local), name  # numbered 1..N in file order, like JSONL lines
        for n, ref in local.items():
            assert got[n]["output"] == ref["output"] and got[n]["_hash"] == ref["_hash"], (name, n)
            assert json.loads(got[n]["input"]) == {"ticket": tickets[n - 1]}  # `id` is not an input

    # A table without a column for a required input is refused before anything runs.
    pd.DataFrame({"body": tickets}).to_parquet(tmp_path / "wrong.parquet")
    code = main(["run", str(prog), "--engine", "spark", "--input", str(tmp_path / "wrong.parquet"), "--out",
                 str(tmp_path / "wrong"), "--model", f"default={MODEL}", "--no-cache"])
    assert code == 2 and "no column for the input(s) ticket" in capsys.readouterr().err


def _strip_time(text: str) -> str:
    return re.sub(r" · [0-9.]+s$", "", text, flags=re.M)


def test_eval_on_spark_prints_the_local_table_and_interval(spark, fake, tmp_path, capsys):
    prog = tmp_path / "triage.lmp"
    prog.write_text(TRIAGE)
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"ticket": t, "priority": "high" if i % 3 else "low"}) + "\n"
                           for i, t in enumerate(_tickets())))
    fake.fault = lambda body: "garbage" if "ticket 5:" in json.dumps(body["messages"]) else None
    base = ["eval", str(prog), "--dev", str(dev), "--metric", "exact_match:priority", "--model", f"default={MODEL}",
            "--no-cache", "--rows", "30"]
    assert main([*base, "--out", str(tmp_path / "local.jsonl")]) == 1  # the garbage row failed
    local = capsys.readouterr().out
    assert main([*base, "--engine", "spark", "--partitions", "3", "--out", str(tmp_path / "spark.jsonl")]) == 1
    on_spark = capsys.readouterr().out
    assert "95% CI" in local and "1 row(s) failed" in local
    assert _strip_time(on_spark) == _strip_time(local)
    records = [[json.loads(x) for x in (tmp_path / f).read_text().splitlines()] for f in ("local.jsonl", "spark.jsonl")]
    assert records[0] == records[1]
