"""Cold start: `lmp --help`, `lmp check FILE`, `python -c "import lmp"` vs `python -c "import dspy"`.

Each command is a fresh process. With hyperfine installed (`apt-get install hyperfine`) it does the
timing (3 warm-up runs, then --runs); otherwise the script times repeated subprocesses itself.
Reported: mean and min wall time in ms.

    python bench/cold_start.py [--runs 10]

Targets: `lmp --help` well under `python -c "import dspy"` (issue 8); `lmp check` of the 33-line
classify example under 100 ms as a fresh process (issue 15: the parser's tables come from the user's
cache folder after the first run, see lmp.syntax.tables).

The commands run as an installed lmp would: the sources are byte-compiled first and
PYTHONDONTWRITEBYTECODE is dropped from their environment (with it set, every process compiled
lmp's sources again, ~70 ms that no installed copy pays).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, has_dspy, write_result  # noqa: E402


def commands() -> list[tuple[str, list[str]]]:
    py = sys.executable
    lmp = [py, "-m", "lmp.cli.main"] if not shutil.which("lmp") else [shutil.which("lmp")]
    example = os.path.join(ROOT, "examples", "classify", "classify.lmp")
    cmds = [("lmp --help", [*lmp, "--help"]),
            ("lmp check classify.lmp", [*lmp, "check", example]),
            ('python -c "import lmp"', [py, "-c", "import lmp"])]
    if has_dspy():
        cmds.append(('python -c "import dspy"', [py, "-c", "import dspy"]))
    return cmds


def bench_env() -> dict[str, str]:
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "src"), quiet=1)
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def with_hyperfine(cmds, runs: int) -> dict[str, dict]:
    import shlex

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "hf.json")
        args = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", out, "--style", "none"]
        args += [shlex.join(c) for _, c in cmds]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=bench_env())
        with open(out, encoding="utf-8") as fh:
            data = json.load(fh)["results"]
    return {name: {"mean_ms": r["mean"] * 1e3, "min_ms": r["min"] * 1e3, "stddev_ms": (r["stddev"] or 0) * 1e3}
            for (name, _), r in zip(cmds, data, strict=True)}


def by_hand(cmds, runs: int) -> dict[str, dict]:
    res = {}
    env = bench_env()
    for name, cmd in cmds:
        for _ in range(3):
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times = []
        cpu = []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
            times.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        # CPU time (user + sys of the process) is what a shared machine's load changes least
        res[name] = {"mean_ms": statistics.mean(times) * 1e3, "median_ms": statistics.median(times) * 1e3,
                     "min_ms": min(times) * 1e3, "stddev_ms": statistics.pstdev(times) * 1e3,
                     "cpu_median_ms": statistics.median(cpu) * 1e3}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-hyperfine", action="store_true")
    args = ap.parse_args()
    cmds = commands()
    tool = "hyperfine" if shutil.which("hyperfine") and not args.no_hyperfine else "subprocess"
    res = with_hyperfine(cmds, args.runs) if tool == "hyperfine" else by_hand(cmds, args.runs)
    rows = [{"command": name, **res[name]} for name, _ in cmds]
    for r in rows:
        extra = (f"   median {r['median_ms']:7.0f} ms   cpu median {r['cpu_median_ms']:7.0f} ms"
                 if "median_ms" in r else "")
        print(f"{r['command']:28s} mean {r['mean_ms']:7.0f} ms   min {r['min_ms']:7.0f} ms{extra}")
    check = next(r for r in rows if r["command"].startswith("lmp check"))
    print(f"target: lmp check classify.lmp under 100 ms: {'met' if check['mean_ms'] < 100 else 'MISSED'} "
          f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    path = write_result("cold_start", {"tool": tool, "runs": args.runs, "rows": rows,
                                       "target": "lmp --help well under import dspy; lmp check classify.lmp < 100 ms"})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
