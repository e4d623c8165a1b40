"""The parsing engines side by side: lmp's lean LALR engine, Lark with lark_cython, and pure-Python Lark.

All three run the same tables and give the same trees (tests/syntax/test_lalr.py). Measured:
- in one process, CPU time of `lmp.syntax.parser.parse` (what `lmp check` and the editor call: newline
  marking, the collector paused, the engine) on generated programs of 300 and 2,000 lines (best of
  --repeat, after a warm-up parse);
- as a fresh process, what it costs to get a parser at all and parse the 33-line classify example:
  import, load the cached tables, parse (median CPU time of --runs processes, user + sys).

    python bench/parser_engines.py [--repeat 7] [--runs 15]

Writes results/parser_engines.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS, ROOT, machine  # noqa: E402

ENGINES = {
    "lean (lmp.syntax.lalr)": {"LMP_PARSER_ENGINE": "lean"},
    "Lark + lark_cython": {"LMP_PARSER_ENGINE": "lark"},
    "Lark, pure Python": {"LMP_PARSER_ENGINE": "lark", "BENCH_NO_LARK_CYTHON": "1"},
}

IN_PROCESS = r"""
import os, sys, time, json
if os.environ.get("BENCH_NO_LARK_CYTHON"):
    sys.modules["lark_cython"] = None
sys.path.insert(0, sys.argv[1])
from gen_program import generate
from lmp.syntax.parser import parse
out = {}
for lines in (300, 2000):
    text = generate(lines)
    parse(text)
    times = []
    for _ in range(int(sys.argv[2])):
        c = time.process_time()
        parse(text)
        times.append(time.process_time() - c)
    out[lines] = min(times) * 1000
print(json.dumps(out))
"""

COLD = r"""
import os, sys
if os.environ.get("BENCH_NO_LARK_CYTHON"):
    sys.modules["lark_cython"] = None
from lmp.syntax import engine
from lmp.syntax.newlines import mark_insignificant_newlines
engine.parse(mark_insignificant_newlines(open(sys.argv[1], encoding="utf-8").read()))
"""


def env_for(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "LMP_PARSER_ENGINE")}
    env["PYTHONPATH"] = os.path.join(ROOT, "src")
    return {**env, **extra}


def in_process(extra: dict[str, str], repeat: int) -> dict[str, float]:
    import json

    out = subprocess.run([sys.executable, "-c", IN_PROCESS, os.path.dirname(os.path.abspath(__file__)), str(repeat)],
                         env=env_for(extra), capture_output=True, text=True, check=True)
    return {int(k): v for k, v in json.loads(out.stdout).items()}


def cold(extra: dict[str, str], runs: int) -> tuple[float, float]:
    example = os.path.join(ROOT, "examples", "classify", "classify.lmp")
    cmd = [sys.executable, "-c", COLD, example]
    env = env_for(extra)
    for _ in range(2):  # tables cached, sources byte-compiled
        subprocess.run(cmd, env=env, check=True)
    cpu, wall = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True)
        wall.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "src"), quiet=1)
    rows = []
    for name, extra in ENGINES.items():
        parse = in_process(extra, args.repeat)
        cpu, wall = cold(extra, args.runs)
        rows.append((name, parse[300], parse[2000], cpu, wall))
        print(f"{name:26s} parse 300 lines {parse[300]:6.1f} ms  2,000 lines {parse[2000]:6.1f} ms  "
              f"fresh process cpu {cpu:6.1f} ms  wall {wall:6.1f} ms")
    m = machine()
    lines = [
        "# Parsing engines (bench/parser_engines.py)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {m['cores']} cores, Python {m['python']}, "
        f"load average {m['load_1min']:.2f} at the end. `python bench/parser_engines.py --repeat {args.repeat} "
        f"--runs {args.runs}`.",
        "",
        "| engine | parse 300 lines, CPU ms (best) | parse 2,000 lines, CPU ms (best) | fresh process: import, "
        "load tables, parse classify.lmp, CPU ms (median) | same, wall ms (median) |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {n} | {a:.1f} | {b:.1f} | {c:.1f} | {d:.1f} |" for n, a, b, c, d in rows],
        "",
        "Same tables, same trees (tests/syntax/test_lalr.py). The fresh-process figures include starting Python.",
    ]
    path = os.path.join(RESULTS, "parser_engines.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
