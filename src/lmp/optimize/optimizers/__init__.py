"""Optimizers by name; each is its own module with the shared `Optimizer` interface (base.py)."""

from __future__ import annotations

import importlib
from typing import Any

from lmp.runtime.errors import LmpRuntimeError

REGISTRY = {
    "labeled": ("lmp.optimize.optimizers.labeled", "Labeled"),
    "bootstrap": ("lmp.optimize.optimizers.bootstrap", "Bootstrap"),
    "random-search": ("lmp.optimize.optimizers.random_search", "RandomSearch"),
    "knn": ("lmp.optimize.optimizers.knn", "KNN"),
    "copro": ("lmp.optimize.optimizers.copro", "COPRO"),
    "mipro": ("lmp.optimize.optimizers.mipro", "MIPRO"),
    "ensemble": ("lmp.optimize.optimizers.ensemble", "Ensemble"),
    "gepa": ("lmp.optimize.optimizers.gepa", "GEPA"),
}


def get_optimizer(name: str, **settings: Any) -> Any:
    key = name.replace("_", "-").lower()
    if key in ("random", "randomsearch"):
        key = "random-search"
    if key not in REGISTRY:
        raise LmpRuntimeError(f"unknown optimizer `{name}`; choose one of: {', '.join(REGISTRY)}")
    mod, cls = REGISTRY[key]
    return getattr(importlib.import_module(mod), cls)(**settings)
