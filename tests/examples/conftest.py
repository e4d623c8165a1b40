"""Fixtures for the example tests: run `lmp` as a user would, on the embedded local model.

One local model server (`lmp serve-local`) is started for the whole session and shared by every
command through LMP_LOCAL_URL, so each `lmp` process does not start its own. Responses go to a
cache directory of this session (set LMP_EXAMPLES_CACHE to reuse one across runs).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ex_helpers import ROOT


def _lmp_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("lmp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "lmp.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def local_server(tmp_path_factory):
    """URL of a shared local model server, or skip when the model is not installed."""
    from lmp.runtime.lm.local import INSTALL_HINT, find_local_model

    if find_local_model() is None:
        pytest.skip(f"the embedded local model is not installed ({INSTALL_HINT}, or bash .ci/install-local-model.sh)")
    if os.environ.get("LMP_LOCAL_URL"):
        yield os.environ["LMP_LOCAL_URL"]
        return
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve-local.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([*_lmp_cmd(), "serve-local", "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"lmp serve-local exited with {proc.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail(f"lmp serve-local did not listen within 120 s: {log.read_text()}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return os.environ.get("LMP_EXAMPLES_CACHE") or str(tmp_path_factory.mktemp("lmp-cache"))


@pytest.fixture
def lmp(local_server, cache_dir):
    """`lmp(*args)` runs the CLI in the repository root; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LMP_MODEL_")}
        env.update(LMP_LOCAL_URL=local_server, LMP_CACHE_DIR=cache_dir)
        proc = subprocess.run([*_lmp_cmd(), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"lmp {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    return run
