"""Run every benchmark in bench/ and write bench/results/latest.md (tables) and latest.png (plots).

    python bench/run_all.py                      # everything (DSPy side needs `pip install -e '.[bench]'`)
    python bench/run_all.py --only overhead cold_start
    python bench/run_all.py --skip optimize_vs_dspy lsp_latency
    python bench/run_all.py --quick              # fewer calls/rows: a smoke run, numbers not for the README

Scripts: overhead.py, cold_start.py and throughput.py (lmp vs DSPy; each writes
bench/results/NAME.json, turned into tables here), and every other bench script in this folder
(parse_check.py, lsp_latency.py, serve_throughput.py, optimize_vs_dspy.py, ... as they exist):
their printed output goes into the report as is, along with any results/NAME.json they write.
A script that fails is reported with its exit code and the tail of its output; the others still run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import HERE, RESULTS, ROOT, git_rev, has_dspy, machine, versions  # noqa: E402

OURS = ["overhead", "cold_start", "throughput"]
# run first to last; anything else found in bench/ runs after these
KNOWN_ORDER = [*OURS, "parse_check", "parser_engines", "lsp_latency", "serve_throughput", "optimize_vs_dspy"]
# cold_start_ab compares with another source tree, given on its command line
NOT_BENCHES = {"run_all", "_common", "gen_program", "cold_start_ab"}
QUICK_ARGS = {"overhead": ["--calls", "300", "--repeat", "2"], "cold_start": ["--runs", "3"],
              "throughput": ["--rows", "40"], "parser_engines": ["--repeat", "3", "--runs", "5"],
              "lsp_latency": ["--edits", "10", "--files", "5"],
              "optimize_vs_dspy": ["--quick"], "serve_throughput": ["--duration", "3"]}


def scripts() -> list[str]:
    found = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(HERE, "*.py")))
    found = [n for n in found if n not in NOT_BENCHES and not n.startswith("_")]
    return [n for n in KNOWN_ORDER if n in found] + [n for n in found if n not in KNOWN_ORDER]


def run(name: str, quick: bool, timeout: float) -> dict:
    cmd = [sys.executable, os.path.join(HERE, f"{name}.py"), *(QUICK_ARGS.get(name, []) if quick else [])]
    print(f"== {name}: {' '.join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:])}",
          flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        rc, out = proc.returncode, proc.stdout + (("\n" + proc.stderr) if proc.returncode else "")
    except subprocess.TimeoutExpired as exc:
        rc, out = "timeout", (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    elapsed = time.perf_counter() - t0
    print(out.rstrip()[-3000:], flush=True)
    print(f"== {name}: exit {rc} in {elapsed:.0f} s\n", flush=True)
    data = None
    path = os.path.join(RESULTS, f"{name}.json")
    if os.path.exists(path) and os.path.getmtime(path) >= time.time() - elapsed - 1:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    return {"name": name, "rc": rc, "elapsed_s": elapsed, "output": out, "data": data}


def _f(v, fmt="{:.0f}", none="–"):
    return none if v is None else fmt.format(v)


def table_overhead(d: dict) -> list[str]:
    lines = ["| case | lmp µs/call (CPU) | DSPy | DSPy µs/call (CPU) | lmp / DSPy | target ≤ 0.10 | wall µs/call lmp / DSPy |",
             "|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        ok = "met" if r["ratio"] is not None and r["ratio"] <= 0.10 else ("–" if r["ratio"] is None else "MISSED")
        lines.append(f"| {r['case']} | {r['lmp_us']:.0f} | {r['dspy']} | {_f(r['dspy_us'])} | "
                     f"{_f(r['ratio'], '{:.3f}')} | {ok} | {_f(r.get('lmp_wall_us'))} / {_f(r.get('dspy_wall_us'))} |")
    lines.append(f"\n{d['calls']} calls × {d['repeat']} interleaved repetitions per case; CPU time of the best "
                 "repetition (medians and wall times in results/overhead.json).")
    return lines


def table_cold(d: dict) -> list[str]:
    lines = ["| command | mean ms | min ms |", "|---|---|---|"]
    for r in d["rows"]:
        lines.append(f"| `{r['command']}` | {r['mean_ms']:.0f} | {r['min_ms']:.0f} |")
    lines.append(f"\nTimed with {d['tool']}, {d['runs']} runs after 3 warm-up runs.")
    return lines


def table_throughput(d: dict) -> list[str]:
    lines = ["| concurrency | lmp s | lmp rows/s | lmp speed-up | DSPy s | DSPy rows/s | DSPy speed-up | ideal s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        lines.append(f"| {r['concurrency']} | {r['lmp_s']:.2f} | {r['lmp_rows_per_s']:.1f} | {r['lmp_speedup']:.1f}x | "
                     f"{_f(r['dspy_s'], '{:.2f}')} | {_f(r['dspy_rows_per_s'], '{:.1f}')} | "
                     f"{_f(r['dspy_speedup'], '{:.1f}x')} | {r['ideal_s']:.2f} |")
    lines.append(f"\n{d['rows_per_batch']} rows per batch, {d['latency_s'] * 1000:.0f} ms per call at the fake server.")
    return lines


TABLES = {"overhead": ("Per-call overhead (fake LMs, one process)", table_overhead),
          "cold_start": ("Cold start (fresh process each run)", table_cold),
          "throughput": ("Batch throughput (loopback fake server)", table_throughput)}


def plot(results: dict[str, dict], path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")
        return False
    panels = [n for n in OURS if results.get(n, {}).get("data")]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2))
    axes = [axes] if len(panels) == 1 else list(axes)
    for ax, name in zip(axes, panels, strict=True):
        d = results[name]["data"]
        if name == "overhead":
            cases = [r["case"] for r in d["rows"]]
            x = range(len(cases))
            ax.bar([i - 0.2 for i in x], [r["lmp_us"] for r in d["rows"]], 0.4, label="lmp")
            ax.bar([i + 0.2 for i in x], [r["dspy_us"] or 0 for r in d["rows"]], 0.4, label="DSPy")
            ax.set_xticks(list(x), ["Predict", "ChainOfThought"][: len(cases)])
            ax.set_ylabel("CPU µs per call (lower is better)")
            ax.set_title("Per-call framework overhead")
        elif name == "cold_start":
            labels = [r["command"].replace('python -c "', "").replace('"', "") for r in d["rows"]]
            ax.barh(labels, [r["mean_ms"] for r in d["rows"]],
                    color=["C0" if "dspy" not in lab else "C1" for lab in labels])
            ax.invert_yaxis()
            ax.set_xlabel("ms, mean (lower is better)")
            ax.set_title("Cold start")
        else:
            cs = [r["concurrency"] for r in d["rows"]]
            ax.plot(cs, [r["lmp_rows_per_s"] for r in d["rows"]], "o-", label="lmp batch")
            if any(r["dspy_rows_per_s"] for r in d["rows"]):
                ax.plot(cs, [r["dspy_rows_per_s"] or 0 for r in d["rows"]], "s-", label="DSPy Evaluate")
            ax.plot(cs, [d["rows_per_batch"] / r["ideal_s"] for r in d["rows"]], "k--", label="ideal")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(cs, [str(c) for c in cs])
            ax.set_xlabel("concurrency")
            ax.set_ylabel("rows per second (higher is better)")
            ax.set_title(f"Throughput, {d['latency_s'] * 1000:.0f} ms fake server")
        if name != "cold_start":
            ax.legend()
    fig.suptitle(f"lmp vs DSPy — {time.strftime('%Y-%m-%d')}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def report(results: dict[str, dict], argv: list[str], plotted: bool) -> str:
    m, v = machine(), versions()
    lines = [f"# Benchmark results — {time.strftime('%Y-%m-%d %H:%M %Z')}", "",
             f"- command: `python bench/run_all.py{(' ' + ' '.join(argv)) if argv else ''}` (lmp {v['lmp']} at "
             f"{git_rev() or '?'}, DSPy {v['dspy'] or 'not installed'}, litellm {v['litellm']})",
             f"- machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}; "
             f"1-minute load average at the end: {m['load_1min']:.1f}" if m["load_1min"] is not None else "", ""]
    if plotted:
        lines += ["![lmp vs DSPy](latest.png)", ""]
    for name, res in results.items():
        title = TABLES[name][0] if name in TABLES else name
        lines += [f"## {title} (`bench/{name}.py`)", ""]
        if res["rc"] != 0:
            lines += [f"**failed** (exit {res['rc']}); last output:", "", "```text",
                      res["output"].rstrip()[-2000:], "```", ""]
            continue
        if name in TABLES and res["data"]:
            lines += TABLES[name][1](res["data"]) + [""]
        else:
            lines += ["```text", res["output"].rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="NAME")
    ap.add_argument("--skip", nargs="+", metavar="NAME", default=[])
    ap.add_argument("--quick", action="store_true", help="fewer calls and rows (a smoke run)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per script (default 3600)")
    args = ap.parse_args()
    if not has_dspy():
        print("note: DSPy is not installed; the DSPy columns stay empty (pip install -e '.[bench]')")
    names = [n for n in scripts() if (not args.only or n in args.only) and n not in args.skip]
    results = {n: run(n, args.quick, args.timeout) for n in names}
    os.makedirs(RESULTS, exist_ok=True)
    plotted = plot(results, os.path.join(RESULTS, "latest.png"))
    text = report(results, sys.argv[1:], plotted)
    with open(os.path.join(RESULTS, "latest.md"), "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {os.path.join(RESULTS, 'latest.md')}" + (" and latest.png" if plotted else ""))
    return 1 if any(r["rc"] != 0 for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
