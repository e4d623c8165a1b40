"""`labeled`: k labeled training rows as demos (DSPy's LabeledFewShot, k=16, sampled with a fixed seed)."""

from __future__ import annotations

from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers.base import Optimizer, labeled_candidate
from lmp.optimize.runner import Candidate, Runner


class Labeled(Optimizer):
    name = "labeled"
    defaults = {"k": 16, "sample": True}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        seed = ctx.seed if self.settings["sample"] else None
        return labeled_candidate(runner, trainset, int(self.settings["k"]), seed=seed), {}
