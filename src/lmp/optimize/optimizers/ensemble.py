"""`ensemble`: several optimized variants answer every call; a majority vote picks the output.

Members come from state files (`members: [a.json, b.json, ...]`) or, when none are given, from the
`size` best random-search candidates. The state stores, per predictor, `ensemble: [{instructions,
demos}, ...]`; the runtime (lmp.runtime.trace) runs each member and votes on the last output field.
"""

from __future__ import annotations

from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers.base import Bootstrapper, Optimizer, candidate_from
from lmp.optimize.optimizers.random_search import demo_candidates
from lmp.optimize.runner import Candidate, Runner
from lmp.optimize.state import PredictorState, load_state


class Ensemble(Optimizer):
    name = "ensemble"
    defaults = {"members": [], "size": 3, "num_candidate_programs": 8, "max_bootstrapped_demos": 4,
                "max_labeled_demos": 16, "reducer": "majority"}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        s = self.settings
        if s["reducer"] != "majority":
            raise ValueError("ensemble: the only reducer is `majority`")
        members: list[Candidate] = []
        if s["members"]:
            for path in s["members"]:
                st = load_state(path, runner.program)
                members.append(dict(st.predictors))
        else:
            val = devset or trainset
            boot = Bootstrapper(runner, trainset, metric, ctx, max_labeled=int(s["max_labeled_demos"]))
            scored = []
            cands = demo_candidates(self, runner, trainset, boot, int(s["num_candidate_programs"]),
                                    int(s["max_bootstrapped_demos"]), int(s["max_labeled_demos"]), ctx.seed)
            for number, (seed, cand) in enumerate(cands, 1):
                # Full scores (no early stop): the members are ranked, not only the best kept.
                def run(cand: Candidate = cand) -> dict[str, Any]:
                    res = self.evaluate(runner, cand, val, metric, ctx)
                    return {"score": res.score, "candidate": {p: ps.to_dict() for p, ps in cand.items()}}

                r = self.trial(ctx, f"member:{seed}", number, len(cands), run, f"member candidate {seed}")
                scored.append((r["score"], -number, candidate_from(r["candidate"])))
            scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
            members = [c for _, _, c in scored[: int(s["size"])]]
        out: Candidate = {}
        for pid in runner.predictor_ids:
            entries = []
            for m in members:
                ps = m.get(pid)
                entries.append({"instructions": ps.instructions if ps else None,
                                "demos": list(ps.demos) if ps else []})
            if any(e["demos"] or e["instructions"] for e in entries):
                first = members[0].get(pid)
                out[pid] = PredictorState(runner.hashes[pid], first.instructions if first else None,
                                          list(first.demos) if first else [], ensemble=entries)
        ctx.reporter.info(f"ensemble of {len(members)} member(s), majority vote")
        return out, {"members": len(members)}
