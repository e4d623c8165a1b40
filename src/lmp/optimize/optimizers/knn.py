"""`knn`: demos chosen per input (DSPy's KNNFewShot, k=3), by local BM25 similarity — no embeddings API.

The pool is every training example the teacher got right (a bootstrapped demo for each predictor it
went through) plus labeled rows for the rest. The state file stores `knn: {k, pool}` per predictor;
the runtime (lmp.runtime.trace) picks the k nearest pool demos for each call. `demos` holds k demos as
a fallback for tools that show one fixed prompt (preview).
"""

from __future__ import annotations

from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers.base import Bootstrapper, Optimizer
from lmp.optimize.runner import Candidate, Runner
from lmp.optimize.state import PredictorState


class KNN(Optimizer):
    name = "knn"
    defaults = {"k": 3, "max_pool": 1000, "bootstrap": True, "teacher": "program"}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        s = self.settings
        k, max_pool = int(s["k"]), int(s["max_pool"])
        boot = Bootstrapper(runner, trainset, metric, ctx, max_labeled=16,
                            teacher_on_prompt_model=s["teacher"] == "prompt_model")
        if s["bootstrap"]:
            pool = boot.candidate(trainset, max_pool, max_pool, seed=ctx.seed)
        else:
            from lmp.optimize.optimizers.base import labeled_candidate
            pool = labeled_candidate(runner, trainset, max_pool, seed=None)
        cand: Candidate = {}
        for pid, ps in pool.items():
            cand[pid] = PredictorState(ps.signature_hash, demos=ps.demos[:k], knn={"k": k, "pool": ps.demos})
        ctx.reporter.info("knn pools: " + (", ".join(f"{pid}={len(ps.demos)} demos" for pid, ps in pool.items())
                                           or "(empty)"))
        return cand, {}
