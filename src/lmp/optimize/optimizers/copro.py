"""`copro`: instruction proposal and refinement by the prompt model (DSPy's COPRO: breadth 10,
depth 3, temperature 1.4), one predictor after another, scored on the training set.

Round 1 scores the current instruction and breadth-1 proposals; each later round shows the prompt
model the attempts so far with their scores and asks for better ones. Early stopping and the
(candidate, example) memo make re-scored or hopeless candidates cheap.
"""

from __future__ import annotations

from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers.base import Optimizer
from lmp.optimize.propose import demos_from, propose
from lmp.optimize.runner import Candidate, Runner
from lmp.optimize.state import PredictorState


class COPRO(Optimizer):
    name = "copro"
    defaults = {"breadth": 10, "depth": 3, "init_temperature": 1.4}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        s = self.settings
        breadth, depth, temp = int(s["breadth"]), int(s["depth"]), float(s["init_temperature"])
        lm = ctx.prompt_lm(runner.program)
        best: Candidate = {}
        number = 0
        pids = runner.predictor_ids
        total = len(pids) * breadth * depth
        for pid in pids:
            sig = runner.predictor(pid).signature
            base = runner.base_instructions(pid)
            examples = demos_from(trainset, sig)
            attempts: dict[str, float] = {}
            key = f"proposals:{pid}:0"
            if key not in ctx.checkpoint:
                log: list[dict[str, Any]] = []
                with ctx.ledger.phase("proposals"):
                    proposed = propose(lm, sig, base, n=breadth - 1, examples=examples, temperature=temp,
                                       seed=ctx.seed, pid=pid, log=log, stop=ctx.budget.exhausted)
                ctx.checkpoint.put(key + ":log", log, flush=False)
                ctx.checkpoint.put(key, proposed)
            ctx.note_proposals(ctx.checkpoint.get(key + ":log") or [])
            pending = [base, *ctx.checkpoint.get(key)]
            for rnd in range(depth):
                for instr in pending:
                    if instr in attempts:
                        continue
                    number += 1
                    cand = {**best, pid: PredictorState(runner.hashes[pid], instr,
                                                        list(best[pid].demos) if pid in best else [])}
                    r = self.scored_trial(runner, cand, trainset, metric, ctx, f"trial:{pid}:{instr}", number, total,
                                          f"{pid} round {rnd + 1}")
                    attempts[instr] = r["score"]
                if rnd == depth - 1:
                    break
                key = f"proposals:{pid}:{rnd + 1}"
                if key not in ctx.checkpoint:
                    top = sorted(attempts.items(), key=lambda a: -a[1])[:breadth]
                    log = []
                    with ctx.ledger.phase("proposals"):
                        proposed = propose(lm, sig, max(attempts, key=attempts.__getitem__), n=breadth,
                                           examples=examples, attempts=top, temperature=temp, seed=ctx.seed,
                                           round_=rnd + 1, pid=pid, log=log, stop=ctx.budget.exhausted)
                    ctx.checkpoint.put(key + ":log", log, flush=False)
                    ctx.checkpoint.put(key, proposed)
                ctx.note_proposals(ctx.checkpoint.get(key + ":log") or [])
                pending = list(ctx.checkpoint.get(key))
            winner = max(attempts, key=lambda i: (attempts[i], i == base))
            best = {**best, pid: PredictorState(runner.hashes[pid], winner, [])}
            ctx.reporter.info(f"{pid}: best instruction ({attempts[winner]:.3f}): {winner}")
        assert self.best is not None
        return best, {"best_trial": self.best[0]}
