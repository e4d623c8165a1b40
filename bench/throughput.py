"""Batch throughput against a loopback fake OpenAI-compatible server with 100 ms latency per call.

Both frameworks cross litellm and real HTTP to lmp's `FakeServer` on 127.0.0.1 (no network), with
their response caches off. lmp: a batch of N rows through `lmp.runtime.batch.run_batch` (what
`lmp run --input rows.jsonl --concurrency C` does, minus process start); DSPy:
`dspy.Evaluate(num_threads=C)` over the same rows with a `dspy.Predict` on the same signature.

    python bench/throughput.py [--rows 200] [--latency 0.1] [--concurrency 1 4 16]

Target (issue 8): throughput scales with --concurrency (C-way close to C times faster).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import has_dspy, write_result  # noqa: E402

ANSWER = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"


def lmp_source(url: str) -> str:
    return f"""
model default = "openai/fake-model" {{ api_base: "{url}", api_key: "fake-key", temperature: 0.0 }}

signature QA = "question -> answer"

module Bench(question: str) -> (answer: str) {{
  let predict = Predict(QA)
  return predict(question: question)
}}
"""


def run_lmp(url: str, rows: list[dict], concurrency: int, tag: str) -> float:
    import lmp
    from lmp.runtime.batch import run_batch
    from lmp.runtime.lm.history import History

    prog = lmp.loads(lmp_source(url))
    with tempfile.TemporaryDirectory() as tmp, lmp.context(cache=False, history=History()):
        out = os.path.join(tmp, f"{tag}.jsonl")
        t0 = time.perf_counter()
        summary = run_batch(lambda row: prog.Bench(**row), rows, out, concurrency=concurrency, progress=False)
        elapsed = time.perf_counter() - t0
    if summary.failed:
        raise RuntimeError(f"lmp batch: {summary.failed} rows failed: {summary.errors[:3]}")
    return elapsed


def run_dspy(url: str, rows: list[dict], concurrency: int) -> float:
    import dspy

    lm = dspy.LM("openai/fake-model", api_base=url, api_key="fake-key", cache=False, temperature=0.0)
    dspy.configure(lm=lm)
    pred = dspy.Predict("question -> answer")
    devset = [dspy.Example(question=r["question"], answer="Paris").with_inputs("question") for r in rows]
    ev = dspy.Evaluate(devset=devset, metric=lambda ex, p, trace=None: ex.answer == p.answer,
                       num_threads=concurrency, display_progress=False, display_table=False)
    t0 = time.perf_counter()
    result = ev(pred)
    elapsed = time.perf_counter() - t0
    score = getattr(result, "score", result)
    if float(score) < 99.0:
        raise RuntimeError(f"dspy Evaluate: score {score} (some calls failed)")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    from lmp.runtime.lm.fake_server import FakeServer

    out_rows = []
    with FakeServer(responder=lambda body: ANSWER, latency=args.latency) as srv:
        # warm-up: imports (litellm is imported lazily on the first call) and connection setup
        run_lmp(srv.url, [{"question": "warm-up"}], 1, "warm")
        if has_dspy():
            run_dspy(srv.url, [{"question": "warm-up"}], 1)
        for c in args.concurrency:
            rows = [{"question": f"What is the capital of France? (variant {c}-{i})"} for i in range(args.rows)]
            t_lmp = run_lmp(srv.url, rows, c, f"c{c}")
            t_dspy = run_dspy(srv.url, [{"question": r["question"] + " [dspy]"} for r in rows], c) if has_dspy() else None
            ideal = args.rows * args.latency / c
            row = {"concurrency": c, "lmp_s": t_lmp, "lmp_rows_per_s": args.rows / t_lmp,
                   "dspy_s": t_dspy, "dspy_rows_per_s": (args.rows / t_dspy) if t_dspy else None, "ideal_s": ideal}
            out_rows.append(row)
            d = f"{t_dspy:6.2f} s ({args.rows / t_dspy:6.1f} rows/s)" if t_dspy else "n/a"
            print(f"concurrency {c:3d}: lmp {t_lmp:6.2f} s ({args.rows / t_lmp:6.1f} rows/s)   dspy {d}   "
                  f"ideal {ideal:.2f} s")
    base = out_rows[0]
    for r in out_rows:
        r["lmp_speedup"] = base["lmp_s"] / r["lmp_s"]
        r["dspy_speedup"] = (base["dspy_s"] / r["dspy_s"]) if r["dspy_s"] and base["dspy_s"] else None
    path = write_result("throughput", {"rows_per_batch": args.rows, "latency_s": args.latency, "rows": out_rows,
                                       "target": "C-way concurrency close to C x faster"})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
