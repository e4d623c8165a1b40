"""Language-server soak: N random edits through one `lmp lsp` process, with requests in between.

    python bench/lsp_soak.py [--edits 20000] [--lines 300] [--request-every 50] [--seed 0]

The server runs as a subprocess over stdio, the way an editor runs it, driven by a small JSON-RPC
client here (no client library, so the figures are the server's alone). Edits are incremental
`didChange` notifications sent as fast as the pipe takes them: random inserts of program tokens,
deletions and line breaks at random places, and every 1,000 edits the original text back (so the
file keeps declarations to analyse). Every `--request-every` edits one request (hover, completion,
document symbols, semantic tokens, in turn) is sent and its answer awaited.

Prints the server's resident memory after opening the file and after the edits (its growth, in total
and per edit), the slowest response and its method, p50/p99 response times, how long the server took
to exit after shutdown, and how many tracebacks it logged. The exit status is 1 when the server died,
stopped answering, or logged a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsp_latency import generate, pct  # noqa: E402 - the same generated programs as the latency bench

SERVER = [sys.executable, "-m", "lmp", "--debug", "lsp", "--stdio"]
TOKENS = ["x", "r", " ", " ", "\n", "(", ")", "{", "}", '"', ".", ",", ":", "=", "str", "int", "list[str]",
          "signature S {", "module M(a: str) -> (b: str) {", "let p = Predict(S)", "return (b: a)", "in  a: str",
          "out b: int", "# note", '"""doc"""', "if a == \"x\" {", "1.5", "->", "?"]
METHODS = ["textDocument/hover", "textDocument/completion", "textDocument/documentSymbol",
           "textDocument/semanticTokens/full"]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Client:
    """Content-Length framed JSON-RPC over the server's stdin/stdout; a thread reads every message."""

    def __init__(self, cmd: list[str], stderr: Any) -> None:
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self.pid = self.proc.pid
        self._next = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, threading.Event] = {}
        self.responses: dict[int, dict[str, Any]] = {}
        self.diagnostics = 0
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length is None:
                    continue
                msg = json.loads(out.read(length))
                if "id" in msg and "method" not in msg:
                    with self._lock:
                        self.responses[msg["id"]] = msg
                        event = self._waiting.pop(msg["id"], None)
                    if event is not None:
                        event.set()
                elif msg.get("method") == "textDocument/publishDiagnostics":
                    self.diagnostics += 1
                elif "id" in msg:  # a request from the server (e.g. registerCapability): accept it
                    self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        finally:
            self.closed.set()
            with self._lock:
                for event in self._waiting.values():
                    event.set()

    def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict[str, Any] | None, timeout: float = 30.0) -> tuple[dict[str, Any], float]:
        with self._lock:
            self._next += 1
            msg_id = self._next
            event = self._waiting[msg_id] = threading.Event()
        t0 = time.perf_counter()
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        if not event.wait(timeout) or msg_id not in self.responses:
            raise RuntimeError(f"no answer to {method} within {timeout:.0f}s (server alive: {self.proc.poll() is None})")
        return self.responses.pop(msg_id), time.perf_counter() - t0


def position(text: str, offset: int) -> dict[str, int]:
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def random_edit(rng: random.Random, text: str) -> tuple[str, dict[str, Any]]:
    """One ASCII edit (so UTF-16 columns are character columns): the new text and its change event."""
    start = rng.randrange(len(text) + 1)
    if rng.random() < 0.35 and text:
        end = min(len(text), start + rng.randint(1, 12))
        new = ""
    else:
        end = start
        new = rng.choice(TOKENS)
    change = {"range": {"start": position(text, start), "end": position(text, end)}, "text": new}
    return text[:start] + new + text[end:], change


def soak(edits: int, lines: int, request_every: int, seed: int, log_path: str) -> dict[str, Any]:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="lmp-soak-"))
    path = work / "soak.lmp"
    original = generate(lines)
    path.write_text(original, encoding="utf-8")
    uri = path.as_uri()
    with open(log_path, "wb") as log:
        client = Client(SERVER, log)
        client.request("initialize", {"processId": os.getpid(), "rootUri": work.as_uri(), "capabilities": {},
                                      "initializationOptions": {"debounceMs": 50}})
        client.notify("initialized", {})
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lmp", "version": 1,
                                                                "text": original}})
        client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        time.sleep(1.0)
        rss_start = rss_bytes(client.pid)
        text, version = original, 1
        times: list[tuple[float, str]] = []
        t0 = time.perf_counter()
        for i in range(1, edits + 1):
            version += 1
            if i % 1000 == 0:
                change = {"range": {"start": {"line": 0, "character": 0}, "end": position(text, len(text))},
                          "text": original}
                text = original
            else:
                text, change = random_edit(rng, text)
            client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                     "contentChanges": [change]})
            if i % request_every == 0:
                method = METHODS[(i // request_every) % len(METHODS)]
                params: dict[str, Any] = {"textDocument": {"uri": uri}}
                if method in ("textDocument/hover", "textDocument/completion"):
                    params["position"] = position(text, rng.randrange(len(text) + 1))
                _, seconds = client.request(method, params)
                times.append((seconds, method))
        edit_seconds = time.perf_counter() - t0
        # The last edits' analysis settles before memory is read.
        client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        time.sleep(1.0)
        rss_end = rss_bytes(client.pid)
        t_shutdown = time.perf_counter()
        client.request("shutdown", None)
        client.notify("exit", None)
        try:
            client.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            client.proc.kill()
            client.proc.wait()
        exit_seconds = time.perf_counter() - t_shutdown
    log_text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    slowest = max(times, default=(0.0, "-"))
    values = [t for t, _ in times]
    return {"edits": edits, "lines": lines, "requests": len(times), "edit_seconds": edit_seconds,
            "rss_start": rss_start, "rss_end": rss_end, "growth": rss_end - rss_start,
            "slowest": slowest, "p50": pct(values, 50), "p99": pct(values, 99), "exit_seconds": exit_seconds,
            "returncode": client.proc.returncode, "tracebacks": log_text.count("Traceback (most recent call last)"),
            "diagnostics": client.diagnostics, "log": log_path}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edits", type=int, default=20_000)
    ap.add_argument("--lines", type=int, default=300, help="size of the generated program")
    ap.add_argument("--request-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", default=os.path.join(tempfile.gettempdir(), "lmp-soak-server.log"),
                    help="where the server's stderr goes")
    args = ap.parse_args()
    r = soak(args.edits, args.lines, args.request_every, args.seed, args.log)
    mb = 1024 * 1024
    print(f"edits: {r['edits']} on a {r['lines']}-line file in {r['edit_seconds']:.1f}s "
          f"({r['edits'] / r['edit_seconds']:.0f}/s), {r['requests']} requests, {r['diagnostics']} diagnostics published")
    print(f"RSS: {r['rss_start'] / mb:.1f} MB after open -> {r['rss_end'] / mb:.1f} MB after the edits "
          f"(growth {r['growth'] / mb:+.1f} MB, {r['growth'] / r['edits']:+.0f} bytes per edit)")
    print(f"responses: p50 {r['p50'] * 1000:.1f} ms · p99 {r['p99'] * 1000:.1f} ms · "
          f"slowest {r['slowest'][0] * 1000:.1f} ms ({r['slowest'][1]})")
    print(f"exit after shutdown: {r['exit_seconds']:.2f}s (code {r['returncode']}) · "
          f"tracebacks logged: {r['tracebacks']} (log: {r['log']})")
    return 0 if r["returncode"] == 0 and r["tracebacks"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
