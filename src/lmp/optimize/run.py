"""`optimize(...)`: the whole `lmp optimize` run — baseline on dev, compile, after on dev, state file.

A checkpoint (`<output>.ckpt.json`) keeps finished trials, teacher traces and evaluations; a rerun
with the same program, data, optimizer and settings continues where the last one stopped (and the
response cache makes any repeated model call free). It is removed once the state file is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lmp.optimize.budget import BudgetSpec, make_budget
from lmp.optimize.context import Budget, Checkpoint, OptimizeContext, Reporter
from lmp.optimize.costs import Ledger
from lmp.optimize.data import Example, dataset_hash
from lmp.optimize.evaluate import EvalResult, TooManyErrors, evaluate
from lmp.optimize.metrics import Metric
from lmp.optimize.optimizers import get_optimizer
from lmp.optimize.optimizers.base import candidate_to, default_module
from lmp.optimize.runner import Runner
from lmp.optimize.state import State, program_hash


@dataclass
class OptimizeResult:
    state: State
    before: float | None
    after: float | None
    calls: int
    cached_calls: int
    tokens: int
    cost: float
    before_eval: EvalResult | None = None
    after_eval: EvalResult | None = None
    phases: dict[str, dict[str, Any]] | None = None  # cost per phase (lmp.optimize.costs), every leg
    trials: list[Any] | None = None  # the TrialReports of the run, in order


def checkpoint_path(output: str) -> str:
    base = output[:-5] if output.endswith(".json") else output
    return base + ".ckpt.json"


def optimize(handle: Any, *, optimizer: str, trainset: list[Example], metric: Metric,
             devset: list[Example] | None = None, module: str | None = None, output: str | None = None,
             settings: dict[str, Any] | None = None, seed: int = 0, budget: int | BudgetSpec | None = None,
             prompt_model: str | None = None, concurrency: int = 4, reporter: Reporter | None = None,
             progress: bool = False, evaluate_dev: bool = True) -> OptimizeResult:
    module = module or default_module(handle)
    opt = get_optimizer(optimizer, **(settings or {}))
    header = {"optimizer": opt.name, "settings": json.loads(json.dumps(opt.settings, default=str)),
              "program": program_hash(handle.program), "module": module, "seed": seed, "metric": metric.name,
              "train": dataset_hash(trainset), "dev": dataset_hash(devset) if devset else None,
              "prompt_model": prompt_model}
    ckpt = Checkpoint(checkpoint_path(output) if output else None, header)
    reporter = reporter or Reporter()
    if ckpt.resumed:
        reporter.info(f"resuming from {ckpt.path} ({ckpt.resumed} finished step(s) reused)")
    spend = make_budget(budget, ckpt.earlier_cost(), concurrency)
    ledger = Ledger(spend.history, spend.start, before=[leg.get("phases") or {} for leg in ckpt.previous_legs])
    ctx = OptimizeContext(budget=spend, checkpoint=ckpt, reporter=reporter, seed=seed, concurrency=concurrency,
                          prompt_model=prompt_model, progress=progress, ledger=ledger)
    # Every save records this leg's cost (per phase too), so a killed run's resume reports what all legs spent.
    ckpt.cost_of_leg = lambda: {**spend.leg_totals(), "phases": ledger.leg()}
    runner = Runner(handle, module)
    dev = devset or trainset
    try:
        failed: dict[str, int] = {}
        before = after = None
        if evaluate_dev:
            with ledger.phase("baseline"):
                before, failed["before"] = _dev_eval(runner, dev, metric, ctx, None, "before")
            reporter.info(f"dev before: {before.score:.3f} ({metric.name}, n={before.n}"
                          f"{_failed_note(failed['before'])})")
        state = opt.compile(handle, trainset, metric, devset, module=module, ctx=ctx)
        if evaluate_dev:
            with ledger.phase("final"):
                after, failed["after"] = _dev_eval(runner, dev, metric, ctx, state.predictors, "after")
    except BaseException:
        ckpt.save(force=True)
        raise
    finally:
        runner.apply(None)
    totals = ctx.budget.totals()
    b = before.score if before else None
    a = after.score if after else None
    state.scores.update({"dev_before": b, "dev_after": a, "dev_size": len(dev), "train_size": len(trainset)})
    if devset is None:
        state.scores["dev_is_train"] = True
    for label, count in failed.items():
        state.scores[f"dev_{label}_failed"] = count
    gained = (a - b) * 100 if a is not None and b is not None else None
    state.cost = {"calls": totals["calls"], "cached_calls": totals["cached_calls"], "tokens": totals["tokens"],
                  "usd": totals["cost"],
                  "calls_per_point": round(totals["calls"] / gained, 3) if gained and gained > 0 else None,
                  "usd_per_point": round(totals["cost"] / gained, 6) if gained and gained > 0 else None,
                  "legs": len(ckpt.previous_legs) + 1}
    if output:
        state.save(output)
        ckpt.remove()
    return OptimizeResult(state, b, a, totals["calls"], totals["cached_calls"], totals["tokens"], totals["cost"],
                          before, after, phases=ledger.phases(), trials=list(reporter.trials))


def dev_error_cap(n: int) -> int:
    """How many dev rows may fail (a call or tool error, a metric error) before the evaluation is not a
    score: a tenth of them. Answers that do not parse are not failures here, only a score of 0 (a weak
    model's baseline is a real baseline); a model server that is down is not."""
    return n // 10


class DevEvaluationFailed(TooManyErrors):
    """The dev evaluation had more failing rows than `dev_error_cap` allows; nothing was checkpointed."""


def failed_rows(res: EvalResult) -> int:
    """Rows that failed (call, tool or metric errors); unparsed answers are scored 0, not failures."""
    return sum(1 for r in res.results if (r.error and not r.unparsed) or r.metric_error)


def _failed_note(failed: int) -> str:
    return f", {failed} row(s) failed and scored 0" if failed else ""


def _dev_eval(runner: Runner, dev: list[Example], metric: Metric, ctx: OptimizeContext, candidate: Any,
              label: str) -> tuple[EvalResult, int]:
    """The score of `candidate` on dev and how many rows failed; raises DevEvaluationFailed past the cap."""
    from lmp.optimize.runner import fingerprint

    key = f"dev:{label}:{fingerprint(candidate)}"
    saved = ctx.checkpoint.get(key)
    # A saved evaluation without its failure count predates the error cap: it may have been measured
    # during an outage, so it is measured again (the response cache makes the healthy rows free).
    if saved is not None and "failed" in saved and saved["failed"] <= dev_error_cap(saved["n"]):
        res = EvalResult(score=saved["score"], results=[], n=saved["n"], ci=tuple(saved["ci"]))  # type: ignore[arg-type]
        return res, int(saved["failed"])
    cap = dev_error_cap(len(dev))
    try:
        res = evaluate(runner, dev, metric, candidate, concurrency=ctx.concurrency, progress=ctx.progress,
                       label=f"dev {label} ", budget=Budget(None), memo=ctx.memo, max_errors=cap,
                       unparsed_is_zero=True)
    except TooManyErrors as exc:
        raise DevEvaluationFailed(
            f"The dev evaluation {label} optimizing is not a score (at most {cap} of {len(dev)} rows may fail): "
            f"{exc}\nIt was not saved to the checkpoint. Fix the cause (is the model server up?) and rerun the "
            "same command: finished steps are reused and this evaluation is measured again.") from exc
    failed = failed_rows(res)
    ctx.checkpoint.put(key, {"score": res.score, "n": res.n, "ci": list(res.ci), "failed": failed,
                             "candidate": candidate_to(candidate or {})})
    return res, failed
