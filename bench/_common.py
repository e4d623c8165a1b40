"""Shared helpers for the bench scripts: machine description and result files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
ROOT = os.path.dirname(HERE)


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": cpu,
            "cores": os.cpu_count(), "load_1min": load}


def versions() -> dict:
    out = {}
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("lmp", "dspy", "litellm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def has_dspy() -> bool:
    import importlib.util

    return importlib.util.find_spec("dspy") is not None


def write_result(name: str, data: dict) -> str:
    os.makedirs(RESULTS, exist_ok=True)
    data = {"bench": name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
            "versions": versions(), **data}
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    return path


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""
