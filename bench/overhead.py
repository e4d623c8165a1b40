"""Per-call framework overhead: lmp vs dspy.Predict / dspy.ChainOfThought, fake LMs, one process.

The same signature (`question -> answer`) on both sides; the fake LMs return an already formatted
answer at once, so the time measured is the framework's: rendering the prompt, parsing the answer,
typing the outputs, history bookkeeping. lmp calls a module (its interpreter included) with its
FakeLM and the response cache off; DSPy calls the predictor with its DummyLM (DSPy's own test LM).
Every call gets a new question (no cache hit anywhere). The two sides' repetitions are interleaved
and the figure is CPU time per call (best repetition): on a shared machine, wall time moves with
the neighbours' load, CPU time much less. Wall times are in the JSON too.

    python bench/overhead.py [--calls 2000] [--repeat 5]

Target (issue 8): lmp's overhead at most 1/10 of dspy.Predict's.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import has_dspy, write_result  # noqa: E402

LMP_SOURCE = """
signature QA = "question -> answer"

module Plain(question: str) -> (answer: str) {
  let predict = Predict(QA)
  return predict(question: question)
}

module Cot(question: str) -> (answer: str) {
  let predict = ChainOfThought(QA)
  p = predict(question: question)
  return (answer: p.answer)
}
"""

PLAIN = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
COT = "[[ ## reasoning ## ]]\nThe capital of France is Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"


def warm(fn, calls: int) -> None:
    for i in range(max(calls // 10, 20)):
        fn(f"warm-up question {i}?")


def once(fn, calls: int, r: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per call over `calls` calls."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(calls):
        fn(f"What is the capital of country {r}-{i}?")
    return (time.perf_counter() - t0) / calls * 1e6, (time.process_time() - c0) / calls * 1e6


def make_lmp(kind: str, calls: int, repeat: int):
    import lmp
    from lmp.runtime.lm.fake import FakeLM
    from lmp.runtime.lm.history import History

    prog = lmp.loads(LMP_SOURCE)
    lm = FakeLM(default=COT if kind == "cot" else PLAIN)
    module = prog.Cot if kind == "cot" else prog.Plain
    # configure(), not context(): the DSPy side's calls are interleaved with these ones
    lmp.configure(lm=lm, cache=False, history=History())

    def call(q: str) -> None:
        out = module(question=q)
        assert out.answer == "Paris", out
        lm.calls.clear()  # FakeLM keeps every call for tests; do not let it grow
    return call


def make_dspy(kind: str, calls: int, repeat: int):
    import dspy
    from dspy.utils.dummies import DummyLM

    total = (calls + max(calls // 10, 20)) * (repeat + 1) + 10
    answer = {"reasoning": "The capital of France is Paris.", "answer": "Paris"} if kind == "cot" else {"answer": "Paris"}
    lm = DummyLM([answer] * total)
    pred = dspy.ChainOfThought("question -> answer") if kind == "cot" else dspy.Predict("question -> answer")
    pred.set_lm(lm)

    def call(q: str) -> None:
        out = pred(question=q)
        assert out.answer == "Paris", out
        lm.history.clear()
    return call


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for kind, dspy_name in (("predict", "dspy.Predict"), ("cot", "dspy.ChainOfThought")):
        sides = {"lmp": make_lmp(kind, args.calls, args.repeat)}
        if has_dspy():
            sides["dspy"] = make_dspy(kind, args.calls, args.repeat)
        for fn in sides.values():
            warm(fn, args.calls)
        # interleaved repetitions: on a shared machine both sides see the same background load
        wall: dict[str, list[float]] = {k: [] for k in sides}
        cpu: dict[str, list[float]] = {k: [] for k in sides}
        for r in range(args.repeat):
            for name, fn in sides.items():
                w, c = once(fn, args.calls, r)
                wall[name].append(w)
                cpu[name].append(c)
        row = {"case": kind, "lmp_us": min(cpu["lmp"]), "lmp_wall_us": min(wall["lmp"]),
               "lmp_us_median": statistics.median(cpu["lmp"]),
               "dspy": dspy_name, "dspy_us": None, "dspy_wall_us": None, "dspy_us_median": None, "ratio": None}
        if "dspy" in sides:
            row.update(dspy_us=min(cpu["dspy"]), dspy_wall_us=min(wall["dspy"]),
                       dspy_us_median=statistics.median(cpu["dspy"]))
            row["ratio"] = row["lmp_us"] / row["dspy_us"]
        rows.append(row)
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "n/a (dspy not installed)"
        dus = f"{row['dspy_us']:.0f}" if row["dspy_us"] is not None else "-"
        print(f"{kind:8s} lmp {row['lmp_us']:8.1f} µs/call   {dspy_name} {dus} µs/call   ratio {ratio}  "
              f"(CPU time, best of {args.repeat}; wall: lmp {row['lmp_wall_us']:.0f}, "
              f"dspy {row['dspy_wall_us'] or 0:.0f})")
    path = write_result("overhead", {"calls": args.calls, "repeat": args.repeat, "rows": rows,
                                     "target": "lmp/dspy.Predict <= 0.10"})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
