"""Shared setup for the optimizer tests (imported by name)."""

from __future__ import annotations

from pathlib import Path

import lmp
from lmp.optimize.data import load_dataset
from lmp.optimize.metrics import resolve_metric
from tests.optimize import toy


def setup(tmp_path: Path, program: str = "toy.lmp", module: str = "Classify", n_train: int = 16, n_dev: int = 16):
    handle = lmp.load(toy.FIXTURES / program)
    mod = handle.program.modules[module]
    train = load_dataset(toy.write(tmp_path / "train.jsonl", toy.rows(n_train, 1)), mod)
    dev = load_dataset(toy.write(tmp_path / "dev.jsonl", toy.rows(n_dev, 2)), mod)
    return handle, train, dev, resolve_metric("exact_match", handle)
