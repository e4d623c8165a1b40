"""`mipro`: joint search over instructions and demo sets per predictor (DSPy's MIPROv2).

1. Demo sets: `num_candidates` per predictor, built like random search's candidates (zero-shot,
   labeled, bootstrapped, shuffled bootstraps) — 4 bootstrapped + 4 labeled demos at most.
2. Instructions: the current one plus `num_candidates - 1` proposals by the prompt model (a separate,
   usually stronger, model: `--prompt-model`), grounded in training examples.
3. Optuna TPE picks (instruction, demo set) per predictor for each trial; trials score a minibatch of
   35 dev examples, and every 5 trials the best-looking configuration is scored on the full dev set.
   When dev has at most `minibatch_size` rows, every trial is a full evaluation (with early stopping).

Presets (`auto`): light / medium / heavy = 6 / 12 / 18 candidates, dev capped at 100 / 300 / 1000.
Resume: proposals, demo sets and finished trials are checkpointed; on a rerun finished trials are
given back to the TPE sampler instead of being run again.
"""

from __future__ import annotations

import math
import random
from typing import Any

from lmp.optimize.context import OptimizeContext
from lmp.optimize.data import Example
from lmp.optimize.metrics import Metric
from lmp.optimize.objectives import Meter, parse_objective
from lmp.optimize.optimizers.base import Bootstrapper, Optimizer, candidate_from, candidate_to, upper_bound
from lmp.optimize.optimizers.random_search import demo_candidates
from lmp.optimize.propose import demos_from, propose
from lmp.optimize.runner import Candidate, Runner, fingerprint
from lmp.optimize.state import PredictorState

PRESETS = {"light": {"num_candidates": 6, "val_size": 100},
           "medium": {"num_candidates": 12, "val_size": 300},
           "heavy": {"num_candidates": 18, "val_size": 1000}}


class MIPRO(Optimizer):
    name = "mipro"
    defaults = {"auto": "light", "num_candidates": None, "num_trials": None, "max_bootstrapped_demos": 4,
                "max_labeled_demos": 4, "minibatch_size": 35, "minibatch_full_eval_steps": 5,
                "init_temperature": 1.0, "val_size": None, "teacher": "program", "objective": None}

    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]:
        import optuna

        s = self.settings
        self._meter_: Meter | None = None
        preset = PRESETS.get(str(s["auto"]), PRESETS["light"])
        n_cand = int(s["num_candidates"] or preset["num_candidates"])
        val = list(devset or trainset)
        val_size = int(s["val_size"] or preset["val_size"])
        if len(val) > val_size:
            val = random.Random(ctx.seed).sample(val, val_size)
        pids = runner.predictor_ids

        # 1. demo sets per predictor
        key = "mipro:demosets"
        if key not in ctx.checkpoint:
            boot = Bootstrapper(runner, trainset, metric, ctx, max_labeled=int(s["max_labeled_demos"]),
                                teacher_on_prompt_model=s["teacher"] == "prompt_model")
            cands = demo_candidates(self, runner, trainset, boot, max(n_cand - 3, 0),
                                    int(s["max_bootstrapped_demos"]), int(s["max_labeled_demos"]), ctx.seed)
            ctx.checkpoint.put(key, [candidate_to(c) for _, c in cands])
        demo_sets = [candidate_from(c) for c in ctx.checkpoint.get(key)]

        # 2. instruction candidates per predictor
        key = "mipro:instructions"
        if key not in ctx.checkpoint:
            lm = ctx.prompt_lm(runner.program)
            log: list[dict[str, Any]] = []
            instructions: dict[str, list[str]] = {}
            for pid in pids:
                sig = runner.predictor(pid).signature
                base = runner.base_instructions(pid)
                boot_demos = [d for c in demo_sets if pid in c for d in c[pid].demos if d.get("augmented")]
                examples = boot_demos[:3] + demos_from(trainset, sig)[:3]
                ctx.reporter.info(f"proposing {n_cand - 1} instructions for {pid} with the prompt model")
                with ctx.ledger.phase("proposals"):
                    instructions[pid] = [base, *propose(lm, sig, base, n=n_cand - 1, examples=examples,
                                                        temperature=float(s["init_temperature"]), seed=ctx.seed,
                                                        pid=pid, log=log, stop=ctx.budget.exhausted)]
            ctx.checkpoint.put(key + ":log", log, flush=False)
            ctx.checkpoint.put(key, instructions)
        instructions = ctx.checkpoint.get(key)
        ctx.note_proposals(ctx.checkpoint.get(key + ":log") or [])

        def build(params: dict[str, int]) -> Candidate:
            cand: Candidate = {}
            for pid in pids:
                instr = instructions[pid][params[f"{pid}:instruction"]]
                demos = demo_sets[params[f"{pid}:demos"]].get(pid)
                cand[pid] = PredictorState(runner.hashes[pid], instr, list(demos.demos) if demos else [])
            return cand

        # 3. Bayesian search
        n_vars = len(pids) * 2
        num_trials = int(s["num_trials"] or max(2 * n_vars * math.log2(max(n_cand, 2)), 1.5 * n_cand))
        mb_size = int(s["minibatch_size"])
        minibatch = len(val) > mb_size
        full_every = int(s["minibatch_full_eval_steps"])
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = {}
        for pid in pids:
            dists[f"{pid}:instruction"] = optuna.distributions.CategoricalDistribution(
                list(range(len(instructions[pid]))))
            dists[f"{pid}:demos"] = optuna.distributions.CategoricalDistribution(list(range(len(demo_sets))))
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=ctx.seed,
                                                                                             multivariate=True))
        # The first trial is the program as written with the unshuffled bootstrap demos (DSPy's default).
        if ctx.checkpoint.get("trial:0") is None:
            study.enqueue_trial({**{f"{pid}:instruction": 0 for pid in pids},
                                 **{f"{pid}:demos": min(2, len(demo_sets) - 1) for pid in pids}})
        mb_scores: dict[str, list[float]] = {}
        configs: dict[str, dict[str, int]] = {}
        full_scores: dict[str, float] = {}
        for t in range(num_trials):
            key = f"trial:{t}"
            saved = ctx.checkpoint.get(key)
            trial = None
            if saved is not None:  # finished before a crash: given back to the sampler, not rerun
                study.add_trial(optuna.trial.create_trial(params=saved["params"], distributions=dists,
                                                          value=saved["value"]))
                params = saved["params"]
            else:
                trial = study.ask(dists)
                params = {k: int(trial.params[k]) for k in dists}
            cand = build(params)
            fp = fingerprint(cand)
            configs[fp] = params
            if minibatch:
                batch = random.Random(ctx.seed * 7919 + t).sample(val, mb_size)
                r = self.trial(ctx, key, t + 1, num_trials,
                               lambda cand=cand, batch=batch, params=params: {
                                   **self._score(runner, cand, batch, metric, ctx, params, None), "minibatch": True},
                               "minibatch")
                mb_scores.setdefault(fp, []).append(r["value"])
            else:
                best = max(full_scores.values()) if full_scores else None
                r = self.trial(ctx, key, t + 1, num_trials,
                               lambda cand=cand, params=params, best=best: self._score(runner, cand, val, metric,
                                                                                         ctx, params, best),
                               "full dev")
                if not r.get("partial"):
                    full_scores[fp] = r["value"]
            if trial is not None:
                study.tell(trial, r["value"])
            if minibatch and ((t + 1) % full_every == 0 or t == num_trials - 1):
                self._full_eval(runner, val, metric, ctx, mb_scores, configs, full_scores, build, t)
        best_fp = max(full_scores, key=lambda f: full_scores[f])
        return build(configs[best_fp]), {"best_trial": full_scores[best_fp], "trials": num_trials,
                                         "instruction_candidates": sum(len(v) for v in instructions.values()),
                                         "demo_sets": len(demo_sets)}

    def _score(self, runner: Runner, cand: Candidate, examples: list[Example], metric: Metric, ctx: OptimizeContext,
               params: dict[str, int], best: float | None) -> dict[str, Any]:
        meter = self._meter(runner)
        if meter is not None:
            # A weighted objective is not bounded by the accuracy: no early stopping; "score" is its value.
            fp = fingerprint(cand)
            mark = meter.start(ctx.budget.history, ctx.memo, fp, examples)
            res = self.evaluate(runner, cand, examples, metric, ctx)
            value = meter.finish(ctx.budget.history, fp, mark, res.results, res.score)
            return {"score": value, "accuracy": res.score, "value": value, "partial": False, "upper": value,
                    "params": params, "candidate": candidate_to(cand), "calls": res.calls}
        res = self.evaluate(runner, cand, examples, metric, ctx, stop_below=best)
        # Stopped early: TPE is told the most it could still have reached (never better than the best).
        value = upper_bound(res) if res.stopped_early else res.score
        return {"score": res.score, "value": value, "partial": res.stopped_early, "upper": value, "params": params,
                "candidate": candidate_to(cand), "calls": res.calls}

    def _meter(self, runner: Runner) -> Meter | None:
        """The multi-objective meter (`objective` setting), one per run; None: plain accuracy."""
        objective = parse_objective(self.settings["objective"])
        if objective.is_default:
            return None
        if self._meter_ is None:
            self._meter_ = Meter(objective, runner.predictor_ids)
        return self._meter_

    def _full_eval(self, runner: Runner, val: list[Example], metric: Metric, ctx: OptimizeContext,
                   mb_scores: dict[str, list[float]], configs: dict[str, dict[str, int]],
                   full_scores: dict[str, float], build: Any, t: int) -> None:
        pending = {fp: sum(v) / len(v) for fp, v in mb_scores.items() if fp not in full_scores}
        if not pending:
            return
        fp = max(pending, key=lambda f: pending[f])
        key = f"full:{fp}"
        saved = ctx.checkpoint.get(key)
        if saved is None:
            meter = self._meter(runner)
            mark = meter.start(ctx.budget.history, ctx.memo, fp, val) if meter is not None else (0, 0)
            with ctx.ledger.phase("trials"):
                res = self.evaluate(runner, build(configs[fp]), val, metric, ctx, label="full eval ")
            saved = {"score": res.score}
            if meter is not None:
                saved = {"score": meter.finish(ctx.budget.history, fp, mark, res.results, res.score),
                         "accuracy": res.score}
            ctx.checkpoint.put(key, saved)
        full_scores[fp] = saved["score"]
        if self.best is None or saved["score"] > self.best[0]:
            self.best = (saved["score"], build(configs[fp]))
        ctx.reporter.info(f"full evaluation after trial {t + 1}: {saved['score']:.3f} "
                          f"(best {max(full_scores.values()):.3f})")
