"""`random-search`: DSPy's BootstrapFewShotWithRandomSearch (16 candidate programs + zero-shot,
labeled-only and unshuffled bootstrap), the best on dev (or train when no dev set is given).

Cheaper than DSPy: teacher traces are computed once per example and shared by every candidate;
a candidate's evaluation stops as soon as it cannot beat the best; finished trials are checkpointed.
"""

from __future__ import annotations

import random
from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers.base import Bootstrapper, Optimizer, labeled_candidate
from lmp.optimize.runner import Candidate, Runner


def demo_candidates(opt: Optimizer, runner: Runner, trainset: list[Example], boot: Bootstrapper, n: int,
                    max_bootstrapped: int, max_labeled: int, seed: int) -> list[tuple[int, Candidate]]:
    """DSPy's candidate seeds: -3 zero-shot, -2 labeled only, -1 unshuffled bootstrap, 0..n-1 shuffled
    bootstraps of a random size in [1, max_bootstrapped]."""
    out: list[tuple[int, Candidate]] = []
    for s in range(-3, n):
        if s == -3:
            cand: Candidate = {}
        elif s == -2:
            cand = labeled_candidate(runner, trainset, max_labeled, seed=seed)
        elif s == -1:
            cand = boot.candidate(trainset, max_bootstrapped, max_labeled, seed=seed)
        else:
            rng = random.Random(seed * 1000 + s)
            order = list(trainset)
            rng.shuffle(order)
            size = rng.randint(1, max_bootstrapped)
            cand = boot.candidate(order, size, max_labeled, seed=seed * 1000 + s)
        out.append((s, cand))
    return out


class RandomSearch(Optimizer):
    name = "random-search"
    defaults = {"num_candidate_programs": 16, "max_bootstrapped_demos": 4, "max_labeled_demos": 16,
                "stop_at_score": None, "teacher": "program"}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        s = self.settings
        val = devset or trainset
        boot = Bootstrapper(runner, trainset, metric, ctx, max_labeled=int(s["max_labeled_demos"]),
                            teacher_on_prompt_model=s["teacher"] == "prompt_model")
        n = int(s["num_candidate_programs"])
        total = n + 3
        scores: list[tuple[float, int]] = []
        for number, (seed, cand) in enumerate(
                demo_candidates(self, runner, trainset, boot, n, int(s["max_bootstrapped_demos"]),
                                int(s["max_labeled_demos"]), ctx.seed), 1):
            label = {-3: "zero-shot", -2: "labeled only", -1: "bootstrap"}.get(seed, f"seed {seed}")
            r = self.scored_trial(runner, cand, val, metric, ctx, f"trial:{seed}", number, total, label)
            if not r.get("partial"):
                scores.append((r["score"], seed))
            if s["stop_at_score"] is not None and self.best and self.best[0] >= float(s["stop_at_score"]):
                break
        assert self.best is not None
        return self.best[1], {"best_trial": self.best[0], "trials": len(scores)}
