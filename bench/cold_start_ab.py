"""`lmp check FILE` as a fresh process: this tree against another lmp source tree, run alternately.

On a shared machine two commands timed one after the other see different loads; alternating them, many
times, and comparing medians of the processes' own CPU time (user + sys, from getrusage) is fair.

    git worktree add /tmp/before <commit>
    python bench/cold_start_ab.py /tmp/before/src [--runs 15] [--file examples/classify/classify.lmp]

Both trees are byte-compiled first and run without PYTHONDONTWRITEBYTECODE, as an installed lmp runs;
three warm-up pairs fill both trees' parser caches.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT  # noqa: E402


def run_once(env: dict[str, str], cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other_src", help="the other tree's src/ folder")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--file", default=os.path.join(ROOT, "examples", "classify", "classify.lmp"))
    args = ap.parse_args()
    trees = {"this tree": os.path.join(ROOT, "src"), "other": os.path.abspath(args.other_src)}
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "LMP_PARSER_ENGINE")}
    cmd = [sys.executable, "-m", "lmp.cli.main", "check", os.path.abspath(args.file)]
    envs = {}
    for name, src in trees.items():
        compileall.compile_dir(src, quiet=1)
        envs[name] = {**base, "PYTHONPATH": src}
    for _ in range(3):
        for env in envs.values():
            run_once(env, cmd)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in envs}
    for _ in range(args.runs):
        for name, env in envs.items():
            samples[name].append(run_once(env, cmd))
    for name, rows in samples.items():
        wall = [w for w, _ in rows]
        cpu = [c for _, c in rows]
        print(f"{name:10s} wall median {statistics.median(wall) * 1e3:6.1f} min {min(wall) * 1e3:6.1f} ms   "
              f"cpu median {statistics.median(cpu) * 1e3:6.1f} min {min(cpu) * 1e3:6.1f} ms   ({trees[name]})")
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
