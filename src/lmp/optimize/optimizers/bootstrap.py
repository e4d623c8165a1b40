"""`bootstrap`: DSPy's BootstrapFewShot (4 bootstrapped + up to 16 labeled demos, 1 round).

The teacher (the program with labeled demos, optionally on the prompt model) runs over the training
set; every run that passes the metric gives a demo to EVERY predictor it went through, intermediate
ones included (a multi-hop query generator gets demos of the queries that led to right answers).
"""

from __future__ import annotations

from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers.base import Bootstrapper, Optimizer
from lmp.optimize.runner import Candidate, Runner


class Bootstrap(Optimizer):
    name = "bootstrap"
    defaults = {"max_bootstrapped_demos": 4, "max_labeled_demos": 16, "metric_threshold": None,
                "teacher": "program", "max_errors": 10}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        s = self.settings
        boot = Bootstrapper(runner, trainset, metric, ctx, max_labeled=int(s["max_labeled_demos"]),
                            teacher_on_prompt_model=s["teacher"] == "prompt_model",
                            threshold=s["metric_threshold"], max_errors=int(s["max_errors"]))
        cand = boot.candidate(trainset, int(s["max_bootstrapped_demos"]), int(s["max_labeled_demos"]), seed=ctx.seed)
        n_aug = {pid: sum(1 for d in ps.demos if d.get("augmented")) for pid, ps in cand.items()}
        ctx.reporter.info("bootstrapped demos per predictor: "
                          + (", ".join(f"{pid}={n}" for pid, n in n_aug.items()) or "(none passed the metric)"))
        return cand, {}
