"""Throughput and latency of `lmp serve` against a loopback fake model with a fixed latency.

    python bench/serve_throughput.py [--latency 0.1] [--duration 8] [--levels 1,8,32]

Starts a FakeServer (OpenAI-compatible, answers after `--latency` s) and `lmp serve` as a separate
process pointed at it through litellm (`--model default=openai/fake-model`, no cache), then drives
POST /modules/Classify at each concurrency level with an asyncio httpx client for `--duration`
seconds. The floor is the model: one request cannot be faster than its latency, and N clients
cannot exceed N / latency requests per second. Besides the client-side figures, the server's own
JSON logs give, per request, the time spent inside model calls, so "lmp overhead" below is
server latency minus model-call time (adapter rendering/parsing, interpreter, validation, HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

from lmp.runtime.lm import FakeServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = os.path.join(ROOT, "tests", "fixtures", "runtime", "classify.lmp")
ANSWER = "[[ ## category ## ]]\nWars and Conflicts\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def start_server(fake_url: str, concurrency: int, model: str = "openai/fake-model") -> tuple[subprocess.Popen, str, list[str]]:
    env = {**os.environ, "LMP_API_BASE_DEFAULT": fake_url, "OPENAI_API_KEY": "sk-bench"}
    env.pop("LMP_MODEL_DEFAULT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmp", "serve", PROGRAM, "--port", "0", "--no-cache", "--model",
         f"default={model}", "--concurrency", str(concurrency), "--timeout", "30"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: list[str] = []
    assert proc.stderr is not None
    url = None
    while url is None:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("lmp serve exited:\n" + "".join(lines))
        lines.append(line)
        m = re.search(r" on (http://127\.0\.0\.1:\d+)", line)
        url = m.group(1) if m else None
    threading.Thread(target=lambda: [lines.append(x) for x in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("lmp serve not ready:\n" + "".join(lines))
        time.sleep(0.05)
    return proc, url, lines


async def drive(url: str, concurrency: int, duration: float) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        stop_at = time.perf_counter() + duration

        async def worker(w: int) -> None:
            i = 0
            while time.perf_counter() < stop_at:
                i += 1
                t0 = time.perf_counter()
                r = await client.post("/modules/Classify", json={"event": f"event {w}-{i}"},
                                      headers={"x-request-id": f"bench-{concurrency}-{w}-{i}"})
                dt = time.perf_counter() - t0
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    latencies.append(dt)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return latencies, codes, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.1, help="fake model latency in seconds (default 0.1)")
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per concurrency level (default 8)")
    ap.add_argument("--nagle", action="store_true", help="leave Nagle's algorithm on for the fake model server")
    ap.add_argument("--inprocess-fake", action="store_true",
                    help="use lmp's in-process `fake:` model (no HTTP, no litellm, no latency): the server's own ceiling")
    ap.add_argument("--levels", default="1,8,32", help="client concurrency levels (default 1,8,32)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    rows = []
    with FakeServer(responder=lambda body: ANSWER, latency=args.latency) as fake:
        if not args.nagle:
            # FakeServer (stdlib http.server) writes headers and body separately; with Nagle's
            # algorithm and delayed ACKs each model call would take ~40 ms more than --latency.
            # Accepted sockets inherit TCP_NODELAY from the listening socket on Linux.
            fake._server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        model = "fake:" + ANSWER if args.inprocess_fake else "openai/fake-model"
        proc, url, lines = start_server(fake.url, concurrency=max(levels) * 2, model=model)
        try:
            asyncio.run(drive(url, 2, 1.0))  # warm-up: imports, litellm, connection pools
            for c in levels:
                mark = len(lines)
                lat, codes, elapsed = asyncio.run(drive(url, c, args.duration))
                time.sleep(0.2)
                logs = [json.loads(x) for x in lines[mark:] if x.startswith("{")]
                reqs = [r for r in logs if r.get("event") == "request"
                        and str(r.get("request_id", "")).startswith(f"bench-{c}-") and r["status"] == 200]
                overhead = [r["latency_ms"] - r["model_latency_ms"] for r in reqs]
                model_ms = [r["model_latency_ms"] for r in reqs]
                rows.append({
                    "concurrency": c, "requests": len(lat), "errors": sum(v for k, v in codes.items() if k != 200),
                    "rps": len(lat) / elapsed, "floor_rps": c / args.latency,
                    "p50_ms": pct(lat, 50) * 1000, "p95_ms": pct(lat, 95) * 1000,
                    "model_p50_ms": statistics.median(model_ms) if model_ms else float("nan"),
                    "overhead_p50_ms": statistics.median(overhead) if overhead else float("nan"),
                    "overhead_p95_ms": pct(overhead, 95),
                })
        finally:
            proc.terminate()
            proc.wait(30)

    floor_ms = args.latency * 1000
    if args.inprocess_fake:
        floor_ms = 0.0
        for r in rows:
            r["floor_rps"] = float("inf")
        print(f"lmp serve, in-process `fake:` model (no model latency, no litellm), {args.duration:g} s per level, "
              f"{os.cpu_count()} CPUs")
    else:
        print(f"lmp serve, loopback fake model with {floor_ms:.0f} ms latency, {args.duration:g} s per level, "
              f"{os.cpu_count()} CPUs")
    head = (f"{'conc':>4} {'reqs':>6} {'err':>4} {'req/s':>8} {'floor req/s':>11} {'%floor':>6} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'model p50':>9} {'lmp ovh p50':>11} {'lmp ovh p95':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        pct_floor = f"{100 * r['rps'] / r['floor_rps']:>5.0f}%" if r["floor_rps"] != float("inf") else f"{'-':>6}"
        print(f"{r['concurrency']:>4} {r['requests']:>6} {r['errors']:>4} {r['rps']:>8.1f} {r['floor_rps']:>11.1f} "
              f"{pct_floor} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
              f"{r['model_p50_ms']:>9.1f} {r['overhead_p50_ms']:>11.1f} {r['overhead_p95_ms']:>11.1f}")
    if not args.inprocess_fake:
        print(f"(floor: one request >= {floor_ms:.0f} ms; N clients <= N/{args.latency:g} req/s. 'model p50' is the "
              "time inside model calls (lmp's HTTP client + the fake's sleep); 'lmp ovh' = server latency - model time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
