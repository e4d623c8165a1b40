"""Helpers shared by the CLI tests (imported by name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmp.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

TYPED = """type Color = "red" | "green"

type Pt = {
  x: int,
  y: int
}

signature S {
  in items: list[str]
  in n: int
  in f: float
  in ok: bool
  in color: Color
  in pt: Pt
  in question: str
  out answer: str
}

module M(items: list[str], n: int, f: float, ok: bool, color: Color, pt: Pt, question: str) -> (answer: str) {
  let p = Predict(S)
  return p(items: items, n: n, f: f, ok: ok, color: color, pt: pt, question: question)
}
"""

ECHO = """signature Echo {
  in text: str
  out answer: str
}

module E(text: str) -> (answer: str) {
  let p = Predict(Echo)
  return p(text: text)
}
"""


def chat(**fields: object) -> str:
    """A well-formed chat-adapter answer."""
    return "\n".join(f"[[ ## {k} ## ]]\n{v}\n" for k, v in fields.items()) + "\n[[ ## completed ## ]]"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def lmp_subprocess(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "lmp.cli.main", *args], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=timeout, check=False)


def write_rows(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path
