"""Embedded model: CPU threads and parallel slots against machine load, to choose the defaults.

    python bench/local_threads.py                    # threads 1/2 x slots 1/2, at load 0 and 2
    python bench/local_threads.py --loads 0,1,2 --calls 4

For each (threads, slots) pair and each load (that many busy-loop processes beside the server), a
fresh server (one subprocess) answers `--calls` sequential 96-token calls, then two concurrent ones;
the table gives the median seconds per sequential call and the wall time of the concurrent pair.
Every call generates exactly 96 tokens (`ignore_eos`) and skips llama.cpp's prompt cache, so the
figures compare like with like. The numbers quoted in docs/local-model.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time

CHILD = r"""
import json, statistics, sys, time, threading, urllib.request
from lmp.runtime.lm.local import LocalServer
threads, slots, calls = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
server = LocalServer(n_threads=threads, n_parallel=slots).start()
body = json.dumps({"model": server.info.alias, "temperature": 0, "max_tokens": 96, "ignore_eos": True,
                   "cache_prompt": False, "messages": [
                       {"role": "system", "content": "You are a helpful travel writer."},
                       {"role": "user", "content": "Describe a long walk through Lisbon, street by street."}]}).encode()
def call():
    req = urllib.request.Request(server.url + "/chat/completions", body, {"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=900) as r:
        out = json.load(r)
    return time.perf_counter() - t, out["usage"]["completion_tokens"]
call()  # warm-up
seq = [call() for _ in range(calls)]
t = time.perf_counter()
ts = [threading.Thread(target=call) for _ in range(2)]
[x.start() for x in ts]; [x.join() for x in ts]
pair = time.perf_counter() - t
print(json.dumps({"seq": statistics.median(s for s, _ in seq), "tokens": seq[0][1], "pair": pair}))
"""


def _burn(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x += 1


def measure(threads: int, slots: int, load: int, calls: int) -> dict[str, float]:
    burners = [multiprocessing.Process(target=_burn, args=(time.time() + 3600,), daemon=True) for _ in range(load)]
    for b in burners:
        b.start()
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(slots), str(calls)],
                             capture_output=True, text=True, timeout=3600, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for b in burners:
            b.terminate()
            b.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loads", default="0,2", help="busy-loop processes beside the server (comma list)")
    ap.add_argument("--calls", type=int, default=3, help="sequential calls per configuration")
    ap.add_argument("--configs", default="1x1,2x1,1x2,2x2", help="THREADSxSLOTS pairs")
    args = ap.parse_args()
    print(f"# {os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.2f}")
    print("| load | threads | slots | s/call (96 tokens, median) | 2 concurrent calls, wall s |")
    print("|---|---|---|---|---|")
    for load in (int(x) for x in args.loads.split(",")):
        for cfg in args.configs.split(","):
            threads, slots = (int(x) for x in cfg.split("x"))
            r = measure(threads, slots, load, args.calls)
            print(f"| {load} | {threads} | {slots} | {r['seq']:.2f} | {r['pair']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
