"""Parse + lower + check time for generated programs (target: 2,000 lines under 100 ms),
and a time bound on hostile inputs (binary junk, deep nesting, many syntax errors).

Run: python bench/parse_check.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gen_program import generate  # noqa: E402

from lmp.project import load_text  # noqa: E402


def timed(text: str, repeat: int = 15) -> tuple[float, float, float, int]:
    """Wall-clock p50/p95 and CPU-time p50 (CPU time is what to compare on a shared machine)."""
    load_text(text, "/tmp/bench.lmp")  # warm up (grammar load)
    samples = []
    cpu = []
    diags = 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        loaded = load_text(text, "/tmp/bench.lmp")
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        diags = len(loaded.diagnostics)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], statistics.median(cpu), diags


def main() -> None:
    cases = {
        "300 lines": generate(300),
        "2,000 lines": generate(2000),
        "2,000 lines, 1 error per module": generate(2000).replace("context += [q.query]", "context += = q"),
        # Under the 1 MB source limit (lmp.syntax.MAX_FILE_BYTES), so that recovery is what is measured.
        "binary junk 0.9 MB": bytes(range(256)).decode("latin-1") * 3500,
        "deep nesting (3,000 brackets)": "module M(q: str) -> (a: str) {\n  x = " + "[" * 3000 + "1" + "]" * 3000
        + "\n  return (a: q)\n}\n",
    }
    print(f"{'input':40} {'lines':>7} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'diags':>6}")
    for name, text in cases.items():
        p50, p95, cpu, diags = timed(text, repeat=5 if "junk" in name or "error" in name else 15)
        print(f"{name:40} {text.count(chr(10)):>7} {p50:>8.1f} {p95:>8.1f} {cpu:>8.1f} {diags:>6}")


if __name__ == "__main__":
    main()
