"""`gepa`: reflective instruction evolution over a Pareto frontier (GEPA, arXiv 2507.19457).

Each iteration:
1. pick a parent from the Pareto frontier over dev rows (and objectives), with probability by the
   number of rows it is best on (`gepa_pareto`);
2. run it on a minibatch of training rows with traces and the metric's feedback;
3. a reflection model reads one predictor's inputs/outputs and the feedback and rewrites that predictor's
   instruction (predictors in turn along a lineage; `gepa_reflect`);
4. the child runs on the same minibatch; only if it scores higher is it evaluated on the full dev set
   and added to the pool;
5. after an accepted child, a merge of two frontier lineages that changed different predictors since a
   common ancestor is tried (each predictor from the lineage that changed it), accepted when it does at
   least as well as both on a sample of dev rows.

Stops at the budget (`--budget`), `max_metric_calls` (rows scored), `max_full_evals`, `max_iterations`
or the `auto` preset (light/medium/heavy). Every evaluation goes through `Optimizer.trial` and is
checkpointed; decisions use a random generator seeded per iteration, so a resumed run ends in the same
state as an uninterrupted one. The state file's `lineage` has every accepted candidate: parents, the
predictor changed, the feedback that produced it, minibatch and dev scores, and the frontier.
"""

from __future__ import annotations

import random
from typing import Any

from lmp.optimize.budget import LimitBudget
from lmp.optimize.context import BudgetExhausted, OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.evaluate import EvalResult, evaluate
from lmp.optimize.metrics import Metric
from lmp.optimize.objectives import Objective, Usage, metric_means, parse_objective, usage_of
from lmp.optimize.optimizers.base import Optimizer, candidate_from, candidate_to
from lmp.optimize.optimizers.gepa_pareto import PoolEntry, ancestors, best_entry, frontier_wins, sample_parent
from lmp.optimize.optimizers.gepa_reflect import (
    REFLECT,
    REFLECT_PREDICTOR,
    ReflectionRecord,
    format_records,
    reflect,
    reflection_lm,
)
from lmp.optimize.proposal_check import REASONS, check_instruction
from lmp.optimize.runner import Candidate, Runner, fingerprint
from lmp.optimize.state import PredictorState, State
from lmp.runtime.errors import LmpRuntimeError

# Presets: how many candidates' worth of full dev evaluations (like mipro's auto), as rows scored.
PRESETS = {"light": 6, "medium": 12, "heavy": 18}
MAX_FEEDBACK_KEPT = 5


class GEPA(Optimizer):
    name = "gepa"
    defaults = {"auto": None, "max_metric_calls": None, "max_full_evals": None, "max_iterations": None,
                "minibatch_size": 3, "use_merge": True, "max_merge_invocations": 5, "merge_sample_size": 5,
                "skip_perfect_score": True, "perfect_score": 1.0, "objective": None}

    def compile(self, handle: Any, trainset: list[Example], metric: Metric, devset: list[Example] | None = None,
                *, module: str | None = None, ctx: OptimizeContext | None = None) -> State:
        self.lineage: dict[str, Any] | None = None
        state = super().compile(handle, trainset, metric, devset, module=module, ctx=ctx)
        state.lineage = self.lineage
        return state

    # ------------------------------------------------------------------ the projection (`--plan`)

    def plan(self, sizes: Any) -> list[Any]:
        """Projected compile phases for `lmp optimize --plan` (`lmp.optimize.plan.Sizes` in, PhasePlans out):
        rows scored up to the metric-call cap (the seed's dev rows are the baseline's, free), and at most one
        reflection per iteration, an iteration scoring at least a minibatch."""
        from lmp.optimize.plan import PhasePlan

        s = self.settings
        mb = max(1, min(int(s["minibatch_size"]), sizes.train))
        auto = s["auto"] or (None if (s["max_metric_calls"] or s["max_full_evals"] or s["max_iterations"]
                                      or sizes.budget) else "light")
        cap = s["max_metric_calls"] or (PRESETS[auto] * (sizes.dev + 2 * mb * 3) if auto in PRESETS else None)
        per_iteration = 2 * mb + sizes.dev  # parent and child on a minibatch, the child on dev
        if s["max_iterations"] is not None:
            by_iterations = int(s["max_iterations"]) * per_iteration
            cap = by_iterations if cap is None else min(cap, by_iterations + sizes.dev)
        final = PhasePlan("final", 0, 0, "the chosen candidate was already scored on dev: free")
        if cap is None:  # only --budget bounds the run
            return [PhasePlan("trials", 0, int(sizes.budget or 0), "bounded by --budget only"),
                    PhasePlan("reflection", 0, int(sizes.budget or 0), "one call per iteration", role="prompt"),
                    final]
        rows = max(int(cap) - sizes.dev, 0)
        iterations = -(-rows // mb)
        return [PhasePlan("trials", 0, rows * sizes.per_row,
                          f"up to {cap} rows scored (max_metric_calls), minibatches of {mb}; rows already "
                          "scored are free"),
                PhasePlan("reflection", 0, iterations, f"at most one call per iteration (≤ {iterations})",
                          role="prompt"), final]

    # ------------------------------------------------------------------ the loop

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        s = self.settings
        self.runner, self.metric, self.ctx = runner, metric, ctx
        self.val = list(devset or trainset)
        self.train = list(trainset)
        self.objective: Objective = parse_objective(s["objective"])
        self.pids = runner.predictor_ids
        if not self.pids:
            raise LmpRuntimeError("gepa: the module has no predictors to tune")
        self.mb_size = max(1, int(s["minibatch_size"]))
        self.solved_streak = 0  # iterations in a row whose minibatch was already perfect
        self.rollouts = 0  # rows scored (memo hits included, so it does not depend on the cache): max_metric_calls
        self.full_evals = 0
        self.usage: dict[str, Usage] = {}  # per candidate fingerprint, over all its evaluations
        self.turn: dict[int, int] = {}  # candidate id -> index of the predictor it reflects on next
        self.number = 0
        self.stats = {"iterations": 0, "proposals": 0, "rejected": 0, "skipped_perfect": 0, "merges_tried": 0,
                      "merges_accepted": 0, "unusable_proposals": 0}
        auto = s["auto"] or (None if self._has_limit() else "light")
        if auto is not None and auto not in PRESETS:
            raise LmpRuntimeError(f"gepa: auto must be one of {', '.join(PRESETS)}, got {auto!r}")
        self.max_metric_calls = s["max_metric_calls"] or (
            PRESETS[auto] * (len(self.val) + 2 * self.mb_size * 3) if auto else None)
        self.lm, note = reflection_lm(runner.program, ctx)
        ctx.reporter.info(f"gepa: {note}")
        self.pool: list[PoolEntry] = []
        try:
            seed = self._full_entry({}, [], "seed", None, [], None, 0)
            if seed is None:
                raise BudgetExhausted("the budget is spent before the seed candidate was scored on dev")
            self.pool.append(seed)
            merges_due = 0
            merges_done = 0
            it = 0
            while not self._stop(it):
                it += 1
                self.stats["iterations"] = it
                rng = random.Random(f"gepa:{ctx.seed}:{it}")
                if s["use_merge"] and merges_due > 0 and merges_done < int(s["max_merge_invocations"]):
                    merges_due -= 1
                    merges_done += 1
                    if self._merge(it, rng):
                        continue
                if self._reflect_step(it, rng):
                    merges_due += 1
        except BudgetExhausted as exc:
            if not self.pool:
                raise
            ctx.reporter.info(f"gepa: {exc}; keeping the best candidate so far")
            self.stats["budget_exhausted"] = True
        self._refresh()
        best = best_entry(self.pool)
        self.lineage = self._lineage(best)
        info: dict[str, Any] = {"best_trial": best.mean, "candidates": len(self.pool), **self.stats,
                                "metric_calls": self.rollouts, "full_evals": self.full_evals}
        if not self.objective.is_default:
            info["objective"] = self.objective.describe()
            info["objective_value"] = round(best.value, 6)
        ctx.reporter.info(f"gepa: {len(self.pool)} candidate(s) from {it} iteration(s); best: candidate {best.id} "
                          f"(dev {best.mean:.3f})")
        return best.candidate, info

    def _has_limit(self) -> bool:
        s = self.settings
        return bool(s["max_metric_calls"] or s["max_full_evals"] or s["max_iterations"]
                    or self.ctx.budget.limit is not None or isinstance(self.ctx.budget, LimitBudget))

    def _stop(self, it: int) -> bool:
        s = self.settings
        if s["max_iterations"] is not None and it >= int(s["max_iterations"]):
            return True
        if s["max_full_evals"] is not None and self.full_evals >= int(s["max_full_evals"]):
            return True
        if self.max_metric_calls is not None and self.rollouts >= int(self.max_metric_calls):
            return True
        if self.solved_streak >= -(-len(self.train) // self.mb_size):
            # A whole epoch of minibatches was already perfect for the parents picked: nothing to reflect on.
            self.ctx.reporter.info("gepa: every training minibatch is solved; stopping")
            return True
        return self.ctx.budget.exhausted()

    # ------------------------------------------------------------------ evaluations (all through `trial`)

    def _eval(self, cand: Candidate, rows: list[Example], key: str, note: str, minibatch: bool,
              traces: bool = False) -> dict[str, Any]:
        self.number += 1

        def run() -> dict[str, Any]:
            budget = self.ctx.budget
            start = len(budget.history)
            fp = fingerprint(cand)
            memo = self.ctx.memo
            # Rows that call the model: not scored before, or (asked with traces) scored without them.
            fresh = sum(1 for ex in rows if (hit := memo.get((fp, ex.key))) is None
                        or (traces and not hit.trace and not hit.error))
            res = evaluate(self.runner, rows, self.metric, cand, concurrency=self.ctx.concurrency,
                           progress=self.ctx.progress, label=f"{note} ", budget=budget, memo=self.ctx.memo,
                           keep_traces=traces, unparsed_is_zero=True)
            recs = budget.history.records()[start:]
            usage = usage_of(recs, self.pids, fresh if recs else 0)
            self._learn(fresh, recs)
            out: dict[str, Any] = {"score": res.score, "scores": [r.score for r in res.results],
                                   "rows": [ex.key for ex in rows], "candidate": candidate_to(cand),
                                   "calls": res.calls, "usage": usage.to_json(),
                                   "metric_objectives": metric_means(res.results)}
            if minibatch:
                out["minibatch"] = True
            if traces:
                out["records"] = {pid: [r.to_json() for r in self._records(res, pid)] for pid in self.pids}
            return out

        saved = self.trial(self.ctx, key, self.number, None, run, note)
        self.rollouts += len(saved.get("rows", []))
        fp = fingerprint(cand)
        self.usage[fp] = self.usage.get(fp, Usage()).add(Usage.from_json(saved.get("usage")))
        return saved

    def _learn(self, fresh: int, recs: list[Any]) -> None:
        """Teach a LimitBudget what a row costs, so it reserves enough before the next one."""
        if not isinstance(self.ctx.budget, LimitBudget) or not fresh:
            return
        paid = [r for r in recs if not r.cached]
        ran = fresh
        calls = -(-len(paid) // ran)
        tokens = -(-sum(r.prompt_tokens + r.completion_tokens for r in paid) // ran)
        if paid:
            self.ctx.budget.learn_row(calls, tokens)

    def _records(self, res: EvalResult, pid: str) -> list[ReflectionRecord]:
        """What predictor `pid` saw and said on each row, with the feedback meant for it."""
        out = []
        for r in res.results:
            fb = r.feedback
            text = (fb.feedback_for(pid) if fb is not None else None) or \
                (f"metric error: {r.metric_error}" if r.metric_error else f"The score was {r.score:g}.")
            entries = [e for e in r.trace if e.predictor == pid]
            if entries:
                for e in entries[-2:]:
                    out.append(ReflectionRecord(dict(e.inputs), dict(e.outputs), text, r.score))
            elif r.error:
                out.append(ReflectionRecord(dict(r.example.inputs), None, text, r.score, r.error))
            else:
                out.append(ReflectionRecord(dict(r.example.inputs), r.prediction, text, r.score))
        return out

    def _value(self, saved: dict[str, Any], fp: str) -> tuple[float, dict[str, float]]:
        """(selection value, weighted objective terms for the frontier) of a full evaluation."""
        acc = float(saved["score"])
        if self.objective.is_default:
            return acc, {}
        usage = self.usage.get(fp, Usage())
        mo = dict(saved.get("metric_objectives") or {})
        value = self.objective.value(acc, usage, mo)
        terms = {k: w * v for k, w in self.objective.weights.items()
                 if (v := {**(usage.per_row() if usage.rows else {}), **mo}.get(k)) is not None}
        return value, terms

    def _full_entry(self, cand: Candidate, parents: list[int], origin: str, pid: str | None, feedback: list[str],
                    minibatch: dict[str, float] | None, iteration: int) -> PoolEntry | None:
        idx = len(self.pool)
        saved = self._eval(cand, self.val, f"gepa:full:{idx}:{fingerprint(cand)}",
                           "seed on dev" if origin == "seed" else f"candidate {idx} on dev", minibatch=False)
        self.full_evals += 1
        value, terms = self._value(saved, fingerprint(cand))
        entry = PoolEntry(idx, candidate_from(saved["candidate"]), list(saved["scores"]), value, terms, parents,
                          origin, pid, feedback, minibatch, iteration)
        entry.metric_objectives = dict(saved.get("metric_objectives") or {})
        return entry

    def _refresh(self) -> None:
        """Objective values from the usage measured so far: a candidate's cost per row is known better
        after more of its rows ran (the seed's dev rows are the baseline's, which made no call in GEPA)."""
        if self.objective.is_default:
            return
        for p in self.pool:
            p.value, p.objectives = self._value({"score": p.mean, "metric_objectives": p.metric_objectives},
                                                fingerprint(p.candidate))

    # ------------------------------------------------------------------ reflection

    def _minibatch(self, it: int) -> list[Example]:
        """Epochs over the shuffled training set, `minibatch_size` rows per iteration."""
        n = len(self.train)
        size = min(self.mb_size, n)
        start = (it - 1) * size
        out = []
        for k in range(start, start + size):
            epoch, pos = divmod(k, n)
            order = list(range(n))
            random.Random(f"gepa:epoch:{self.ctx.seed}:{epoch}").shuffle(order)
            out.append(self.train[order[pos]])
        return out

    def _reflect_step(self, it: int, rng: random.Random) -> bool:
        s = self.settings
        self._refresh()
        parent = sample_parent(self.pool, rng)
        pid = self._next_predictor(parent)
        batch = self._minibatch(it)
        pre = self._eval(parent.candidate, batch, f"gepa:mb:{it}:parent:{parent.id}",
                         f"iteration {it}: parent {parent.id} on minibatch", minibatch=True, traces=True)
        if s["skip_perfect_score"] and all(x >= float(s["perfect_score"]) for x in pre["scores"]):
            self.stats["skipped_perfect"] += 1
            self.solved_streak += 1
            return False
        self.solved_streak = 0
        records = [ReflectionRecord.from_json(r) for r in (pre.get("records") or {}).get(pid, [])]
        key = f"gepa:reflect:{it}"
        proposal = self.ctx.checkpoint.get(key)
        if proposal is None:
            budget = self.ctx.budget
            current = self._instructions(parent.candidate, pid)
            if isinstance(budget, LimitBudget):
                budget.require(1, self._reflection_tokens(budget, current, records))
            else:
                budget.check()
            try:
                with self.ctx.ledger.phase("reflection"):
                    text = reflect(self.lm, self.runner.predictor(pid).signature, current, records,
                                   rollout_id=f"gepa:{self.ctx.seed}:{it}")
            except (KeyboardInterrupt, BudgetExhausted):
                raise
            except Exception as exc:  # noqa: BLE001 - an unusable reflection is skipped, not fatal
                text, why = "", f"{type(exc).__name__}: {exc}"
                entry = {"predictor": pid, "text": "", "ok": False, "reason": "unparsed", "detail": why[:200]}
            else:
                # The same checks as every proposer's (code, a schema, markup, far too long, unchanged...);
                # quoting the examples is allowed: a reflection may state facts they showed.
                verdict = check_instruction(text, current=current)
                why = "" if verdict.ok else REASONS.get(verdict.reason or "", verdict.reason or "rejected")
                entry = {"predictor": pid, "text": text[:400], "ok": verdict.ok, "reason": verdict.reason,
                         "detail": verdict.detail}
            proposal = {"instruction": text if not why else None, "why": why, "predictor": pid, "log": entry}
            self.ctx.checkpoint.put(key, proposal)
        self.stats["proposals"] += 1
        if proposal.get("log"):
            self.ctx.note_proposals([proposal["log"]])
        if not proposal.get("instruction"):
            self.stats["unusable_proposals"] += 1
            self.ctx.reporter.info(f"iteration {it}: the reflection for {pid} was unusable ({proposal.get('why')})")
            return False
        old = parent.candidate.get(pid)
        child = {**parent.candidate, pid: PredictorState(self.runner.hashes[pid], proposal["instruction"],
                                                         list(old.demos) if old else [])}
        if any(fingerprint(p.candidate) == fingerprint(child) for p in self.pool):
            # The reflection wrote an instruction some candidate already has (same feedback, same answer).
            self.stats["duplicates"] = self.stats.get("duplicates", 0) + 1
            return False
        post = self._eval(child, batch, f"gepa:mb:{it}:child", f"iteration {it}: child of {parent.id} on minibatch",
                          minibatch=True)
        before, after = sum(pre["scores"]), sum(post["scores"])
        if after <= before:
            self.stats["rejected"] += 1
            return False
        feedback = list(dict.fromkeys(r.feedback for r in records if r.feedback))[:MAX_FEEDBACK_KEPT]
        entry = self._full_entry(child, [parent.id], "reflect", pid, feedback,
                                 {"parent": before / len(batch), "child": after / len(batch)}, it)
        assert entry is not None
        self.pool.append(entry)
        self.ctx.reporter.info(f"iteration {it}: candidate {entry.id} (child of {parent.id}, {pid}) accepted: "
                               f"minibatch {before:g} -> {after:g}, dev {entry.mean:.3f}")
        return True

    def _reflection_tokens(self, budget: LimitBudget, current: str, records: list[ReflectionRecord]) -> int:
        """What a reflection call may cost: the largest one so far, or (before the first) a generous guess
        from the prompt's length (a token is at least ~3 characters) plus room for the answer."""
        seen = budget.tokens_per_call(REFLECT_PREDICTOR)
        if seen and REFLECT_PREDICTOR in budget.call_tokens:
            return seen
        text = format_records(records) + current + REFLECT.instructions
        return len(text) // 3 + 400 + 2 * len(current) // 3

    def _next_predictor(self, parent: PoolEntry) -> str:
        """Predictors in turn per candidate: after the one that made it, then on each time it is a parent."""
        n = len(self.pids)
        if parent.id not in self.turn:
            made = self.pids.index(parent.predictor) + 1 if parent.predictor in self.pids else 0
            self.turn[parent.id] = made % n
        pid = self.pids[self.turn[parent.id]]
        self.turn[parent.id] = (self.turn[parent.id] + 1) % n
        return pid

    def _instructions(self, cand: Candidate, pid: str) -> str:
        ps = cand.get(pid)
        return ps.instructions if ps is not None and ps.instructions else self.runner.base_instructions(pid)

    # ------------------------------------------------------------------ merge

    def _merge(self, it: int, rng: random.Random) -> bool:
        """Combine two frontier lineages that changed different predictors since a common ancestor."""
        self._refresh()
        wins = frontier_wins(self.pool)
        by_id = {p.id: p for p in self.pool}
        front = sorted(wins)
        options = []
        for i, a in enumerate(front):
            for b in front[i + 1:]:
                common = (ancestors(self.pool, a) | {a}) & (ancestors(self.pool, b) | {b})
                if not common or a in common or b in common:
                    continue
                anc = by_id[max(common)]
                merged = self._combine(by_id[a], by_id[b], anc)
                if merged is not None:
                    options.append((a, b, anc.id, merged))
        tried = {fingerprint(p.candidate) for p in self.pool}
        options = [o for o in options if fingerprint(o[3]) not in tried]
        if not options:
            return False
        a, b, anc_id, merged = options[rng.randrange(len(options))]
        self.stats["merges_tried"] += 1
        rows = sorted(rng.sample(range(len(self.val)), min(int(self.settings["merge_sample_size"]), len(self.val))))
        sample = [self.val[j] for j in rows]
        got = self._eval(merged, sample, f"gepa:merge:{it}", f"iteration {it}: merge of {a} and {b}",
                         minibatch=True)
        best_parent = max(sum(by_id[x].scores[j] for j in rows) for x in (a, b))
        if sum(got["scores"]) < best_parent:
            return False
        entry = self._full_entry(merged, [a, b], "merge", None, [],
                                 {"parent": best_parent / len(rows), "child": sum(got["scores"]) / len(rows)}, it)
        assert entry is not None
        self.pool.append(entry)
        self.stats["merges_accepted"] += 1
        self.ctx.reporter.info(f"iteration {it}: merge of {a} and {b} (common ancestor {anc_id}) accepted as "
                               f"candidate {entry.id}: dev {entry.mean:.3f}")
        return True

    def _combine(self, a: PoolEntry, b: PoolEntry, anc: PoolEntry) -> Candidate | None:
        out: Candidate = {}
        took_a = took_b = False
        for pid in self.pids:
            pa, pb, p0 = (x.candidate.get(pid) for x in (a, b, anc))
            da, db = _differs(pa, p0), _differs(pb, p0)
            if da and (not db or a.value >= b.value):
                pick, took_a = pa, True
            elif db:
                pick, took_b = pb, True
            else:
                pick = p0
            if pick is not None:
                out[pid] = pick
        return out if took_a and took_b else None

    # ------------------------------------------------------------------ the state file's lineage

    def _lineage(self, best: PoolEntry) -> dict[str, Any]:
        wins = frontier_wins(self.pool)
        cands = []
        for p in self.pool:
            item: dict[str, Any] = {"id": p.id, "parents": p.parents, "origin": p.origin, "iteration": p.iteration,
                                    "predictor": p.predictor, "dev_score": round(p.mean, 6),
                                    "frontier_wins": wins.get(p.id, 0), "feedback": p.feedback,
                                    "instructions": {pid: ps.instructions for pid, ps in sorted(p.candidate.items())
                                                     if ps.instructions}}
            if p.minibatch is not None:
                item["minibatch"] = {k: round(v, 6) for k, v in p.minibatch.items()}
            if not self.objective.is_default:
                item["objective"] = round(p.value, 6)
            cands.append(item)
        chain = [best.id, *sorted(ancestors(self.pool, best.id), reverse=True)]
        return {"chosen": best.id, "path": chain, "frontier": sorted(wins), "candidates": cands}


def _differs(x: PredictorState | None, y: PredictorState | None) -> bool:
    return (x.to_dict() if x else None) != (y.to_dict() if y else None) and \
        ((x.instructions if x else None) != (y.instructions if y else None))
