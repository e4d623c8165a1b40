"""`labeled`: k labeled training rows as demos (DSPy's LabeledFewShot, k=16, sampled with a fixed seed)."""

from __future__ import annotations

import json
import warnings
from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers.base import Optimizer, labeled_candidate
from lmp.optimize.runner import Candidate, Runner, demo_signature


class NoDemosWarning(UserWarning):
    """A predictor got no demos because the training rows do not hold its fields."""


def _placeholder(t: Any) -> str:
    text = t.render()
    return "[...]" if text.startswith("list[") else ("{...}" if text.startswith("dict[") else "...")


def why_no_demos(runner: Runner, pid: str, examples: list[Example]) -> str:
    """Why no training row can be a demo of predictor `pid`, and how to fix the rows."""
    sig = demo_signature(runner.predictor(pid))
    keys: set[str] = set()
    for ex in examples:
        keys |= set(ex.record())
    have = ", ".join(sorted(keys)) or "nothing"
    missing_in = [f for f in sig.inputs if f.name not in keys]
    if missing_in:
        names = ", ".join(f"`{f.name}` ({f.type.render()})" for f in missing_in)
        sample = ", ".join(f"{json.dumps(f.name)}: {_placeholder(f.type)}" for f in missing_in)
        return (f"predictor `{pid}` got no demos: no training row has its input{'s' if len(missing_in) > 1 else ''} "
                f"{names} (the rows have {have}). Label it in the rows ({{..., {sample}}} on each line of the "
                "training file), or use --optimizer bootstrap, which fills it by running the program")
    if not any(f.name in keys for f in sig.outputs):
        names = ", ".join(f"`{f.name}`" for f in sig.outputs)
        return (f"predictor `{pid}` got no demos: no training row has any of its outputs {names} (the rows have "
                f"{have}). Label them in the rows, or use --optimizer bootstrap, which fills them by running the "
                "program")
    return (f"predictor `{pid}` got no demos: no single training row has all of its inputs "
            f"({', '.join(f.name for f in sig.inputs)}) and one of its outputs; label them together in the rows")


class Labeled(Optimizer):
    name = "labeled"
    defaults = {"k": 16, "sample": True}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        seed = ctx.seed if self.settings["sample"] else None
        cand = labeled_candidate(runner, trainset, int(self.settings["k"]), seed=seed)
        for pid in runner.predictor_ids:
            if pid not in cand:
                warnings.warn(NoDemosWarning(f"labeled: {why_no_demos(runner, pid, trainset)}"), stacklevel=2)
        return cand, {}
