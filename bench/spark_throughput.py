"""Rows/s of `lmp run --engine spark` on local[2] vs single-process `lmp run --input --concurrency 16`.

The model is lmp's loopback `FakeServer` (OpenAI-compatible, 127.0.0.1) answering after `--latency`
seconds; response caches are off. Measured:

1. end to end, as a user types them (fresh processes, JVM start included): `lmp run --input` with
   --concurrency 16, and `lmp run --engine spark --spark-master local[2]` with --concurrency 8 (2 Python
   workers x 8 = the same 16 calls in flight) and 16 (32 in flight);
2. the Spark path in one warm session (`lmp.spark.jobs.run_job`, no JVM start) at the same latency;
3. the per-row overhead of the Spark path: warm jobs with a 0 ms server, (T(N rows) - T(10 rows)) / (N - 10),
   next to the local engine's own per-row time at 0 ms.

    python bench/spark_throughput.py [--rows 2000] [--latency 0.1]

Writes results/spark_throughput.md (table) and .json. Needs `pip install -e '.[spark]'` and Java 17+.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS, machine  # noqa: E402

PROGRAM = '''\
type Priority = "low" | "high"

signature Triage {
  """Triage a support ticket."""
  in  ticket: str
  out priority: Priority
  out tags: list[str]
}

module Run(ticket: str) -> (priority: Priority, tags: list[str]) {
  let t = Predict(Triage)
  return t(ticket: ticket)
}
'''
ANSWER = '[[ ## priority ## ]]\nhigh\n\n[[ ## tags ## ]]\n["printer"]\n\n[[ ## completed ## ]]'
MODEL = "openai/fake-model"


def cli(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lmp", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"lmp {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.1)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    from lmp.runtime.lm import FakeServer

    srv = FakeServer(responder=lambda body: ANSWER, latency=a.latency).start()
    tmp = tempfile.mkdtemp(prefix="lmp-spark-bench-")
    prog = os.path.join(tmp, "triage.lmp")
    with open(prog, "w", encoding="utf-8") as fh:
        fh.write(PROGRAM)
    rows_path = os.path.join(tmp, "rows.jsonl")
    with open(rows_path, "w", encoding="utf-8") as fh:
        for i in range(a.rows):
            fh.write(json.dumps({"ticket": f"ticket {i}: printer {i % 17} is jammed"}) + "\n")
    small = os.path.join(tmp, "small.jsonl")
    with open(small, "w", encoding="utf-8") as fh:
        for i in range(10):
            fh.write(json.dumps({"ticket": f"small {i}"}) + "\n")
    env = {**os.environ, "LMP_API_BASE_DEFAULT": srv.url, "OPENAI_API_KEY": "sk-bench", "LMP_CACHE_DIR":
           os.path.join(tmp, "cache")}
    env.pop("LMP_MODEL_DEFAULT", None)
    table: list[tuple[str, float, int, str]] = []

    def row(label: str, seconds: float, n: int, note: str = "") -> None:
        table.append((label, seconds, n, note))
        print(f"{label}: {seconds:.1f} s, {n / seconds:.1f} rows/s {note}", flush=True)

    common = ["--model", f"default={MODEL}", "--no-cache"]
    t = cli(["run", prog, "--input", rows_path, "--output", os.path.join(tmp, "local.jsonl"), "--concurrency", "16",
             *common], env)
    row("`lmp run --input` (one process), --concurrency 16", t, a.rows, "16 in flight")
    for conc in (8, 16):
        t = cli(["run", prog, "--engine", "spark", "--spark-master", "local[2]", "--input", rows_path, "--out",
                 os.path.join(tmp, f"spark{conc}"), "--concurrency", str(conc), "--partitions", "8", *common], env)
        row(f"`lmp run --engine spark` local[2], --concurrency {conc} (JVM start included)", t, a.rows,
            f"{2 * conc} in flight")

    # Warm session in this process: what a notebook on a running cluster pays.
    from pyspark.sql import SparkSession

    from lmp.spark import jobs
    from lmp.spark.udfs import make_bundle

    spark = (SparkSession.builder.master("local[2]").appName("lmp-bench")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "8")
             .config("spark.executorEnv.LMP_API_BASE_DEFAULT", srv.url)
             .config("spark.executorEnv.OPENAI_API_KEY", "sk-bench").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    bundle, _ = make_bundle(prog, "Run", models={"default": MODEL}, cache=False, concurrency=8)

    def job(path: str, tag: str) -> float:
        out = os.path.join(tmp, tag)
        t0 = time.perf_counter()
        s = jobs.run_job(spark, bundle, path, out, partitions=8, progress=False)
        elapsed = time.perf_counter() - t0
        assert s.done == s.rows and not s.failed and not s.missing, s
        return elapsed

    job(small, "warmup")  # Python workers start and load lmp once
    row("`run_job` in a warm session, local[2], concurrency 8", job(rows_path, "warm"), a.rows, "16 in flight")

    srv.latency = 0.0
    t_local0 = cli(["run", prog, "--input", rows_path, "--output", os.path.join(tmp, "local0.jsonl"),
                    "--concurrency", "16", *common], env)
    t_small = min(job(small, f"small{k}") for k in range(2))
    t_big = job(rows_path, "big0")
    per_row_spark = (t_big - t_small) / (a.rows - 10)
    print(f"0 ms server: warm job {a.rows} rows {t_big:.2f} s, 10 rows {t_small:.2f} s -> "
          f"{per_row_spark * 1e3:.2f} ms/row; local engine {t_local0:.2f} s -> {t_local0 / a.rows * 1e3:.2f} ms/row",
          flush=True)
    spark.stop()
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    m = machine()
    lines = [f"# Spark throughput ({a.rows} rows, fake server at {a.latency * 1e3:.0f} ms per call)", "",
             f"`python bench/spark_throughput.py --rows {a.rows} --latency {a.latency}` · {m['cpu']} · {m['cores']} "
             f"cores · load (1 min) at the end {m['load_1min']:.1f} · python {m['python']}", "",
             "| path | s | rows/s | calls in flight |", "| --- | --- | --- | --- |"]
    for label, seconds, n, note in table:
        lines.append(f"| {label} | {seconds:.1f} | {n / seconds:.1f} | {note} |")
    lines += ["", "Per-row overhead of the Spark path (warm session, 0 ms server):", "",
              "| measure | value |", "| --- | --- |",
              f"| warm job, {a.rows} rows | {t_big:.2f} s |",
              "| warm job, 10 rows (fixed cost per job: scheduling, input numbering, the 2 writes, the check) | "
              f"{t_small:.2f} s |",
              f"| Spark path per row ((T({a.rows}) - T(10)) / {a.rows - 10}) | {per_row_spark * 1e3:.2f} ms |",
              f"| local engine per row (`lmp run --input`, one process, process start included) | "
              f"{t_local0 / a.rows * 1e3:.2f} ms |", ""]
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "spark_throughput.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    with open(os.path.join(RESULTS, "spark_throughput.json"), "w", encoding="utf-8") as fh:
        json.dump({"rows": a.rows, "latency": a.latency, "machine": m,
                   "table": [{"path": lbl, "seconds": s, "rows_per_s": n / s, "in_flight": note}
                             for lbl, s, n, note in table],
                   "per_row_ms_spark": per_row_spark * 1e3, "per_row_ms_local": t_local0 / a.rows * 1e3,
                   "fixed_job_s": t_small}, fh, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
