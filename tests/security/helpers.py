"""Helpers shared by the security tests (imported by name)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# A regression must not take the machine down with it: child processes get at most this much
# address space (a reader of /dev/zero then dies with MemoryError instead of eating the RAM).
CHILD_MEMORY = 1 << 30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))


def project(tmp_path: Path, marker: str = "pyproject.toml") -> Path:
    """A project folder (root marked by pyproject.toml or .git) inside tmp_path."""
    root = tmp_path / "proj"
    root.mkdir()
    if marker == ".git":
        (root / ".git").mkdir()
    else:
        (root / marker).write_text('[project]\nname = "demo"\n')
    return root


def lmp_cli(*args: str, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None,
            stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """`lmp ARGS` in a child process with a deadline (a hang fails the test instead of freezing it)."""
    return subprocess.run([sys.executable, "-m", "lmp", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=stdin, preexec_fn=_limit_memory, check=False)


class LspClient:
    """A language server in a child process, spoken to over stdio JSON-RPC."""

    def __init__(self, cwd: Path) -> None:
        env = {**os.environ, "LMP_LSP_INCREMENTAL": os.environ.get("LMP_LSP_INCREMENTAL", "1")}
        self.proc = subprocess.Popen([sys.executable, "-m", "lmp", "lsp"], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                     preexec_fn=_limit_memory)
        self.messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers: dict[str, str] = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            with self._cond:
                self.messages.append(json.loads(body))
                self._cond.notify_all()

    def send(self, method: str, params: Any, request: bool = False) -> int | None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        rid = None
        if request:
            self._next_id += 1
            rid = msg["id"] = self._next_id
        data = json.dumps(msg).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()
        return rid

    def wait_for(self, pred: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such message within {timeout} s; got {self.messages}")
                self._cond.wait(left)

    def request(self, method: str, params: Any, timeout: float = 30) -> dict[str, Any]:
        rid = self.send(method, params, request=True)
        return self.wait_for(lambda m: m.get("id") == rid and "method" not in m, timeout)

    def diagnostics(self, uri: str, timeout: float = 30) -> list[dict[str, Any]]:
        msg = self.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                            and m["params"]["uri"] == uri, timeout)
        return list(msg["params"]["diagnostics"])

    def initialize(self, root: Path) -> None:
        self.request("initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}})
        self.send("initialized", {})

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lmp", "version": 1,
                                                            "text": text}})
        return uri

    def close(self) -> int | None:
        """shutdown + exit; the exit code, or None if the server had to be killed."""
        try:
            self.request("shutdown", None, timeout=15)
            self.send("exit", None)
            return self.proc.wait(timeout=15)
        except (AssertionError, subprocess.TimeoutExpired, BrokenPipeError, OSError):
            return None
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
