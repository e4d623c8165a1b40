"""`optimize(...)`: the whole `lmp optimize` run — baseline on dev, compile, after on dev, state file.

A checkpoint (`<output>.ckpt.json`) keeps finished trials, teacher traces and evaluations; a rerun
with the same program, data, optimizer and settings continues where the last one stopped (and the
response cache makes any repeated model call free). It is removed once the state file is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lmp.optimize.context import Budget, Checkpoint, OptimizeContext, Reporter
from lmp.optimize.data import Example, dataset_hash
from lmp.optimize.evaluate import EvalResult, evaluate
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


def checkpoint_path(output: str) -> str:
    base = output[:-5] if output.endswith(".json") else output
    return base + ".ckpt.json"


def optimize(handle: Any, *, optimizer: str, trainset: list[Example], metric: Metric,
             devset: list[Example] | None = None, module: str | None = None, output: str | None = None,
             settings: dict[str, Any] | None = None, seed: int = 0, budget: int | None = None,
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
    ctx = OptimizeContext(budget=Budget(budget, spent_before=int(ckpt.get("calls_spent") or 0)), checkpoint=ckpt,
                          reporter=reporter, seed=seed, concurrency=concurrency, prompt_model=prompt_model,
                          progress=progress)
    runner = Runner(handle, module)
    dev = devset or trainset
    try:
        before = _dev_eval(runner, dev, metric, ctx, None, "before") if evaluate_dev else None
        if before is not None:
            reporter.info(f"dev before: {before.score:.3f} ({metric.name}, n={before.n})")
        state = opt.compile(handle, trainset, metric, devset, module=module, ctx=ctx)
        after = _dev_eval(runner, dev, metric, ctx, state.predictors, "after") if evaluate_dev else None
    except BaseException:
        ckpt.put("calls_spent", ctx.budget.spent)
        raise
    finally:
        runner.apply(None)
    totals = ctx.budget.totals()
    b = before.score if before else None
    a = after.score if after else None
    state.scores.update({"dev_before": b, "dev_after": a, "dev_size": len(dev), "train_size": len(trainset)})
    if devset is None:
        state.scores["dev_is_train"] = True
    gained = (a - b) * 100 if a is not None and b is not None else None
    state.cost = {"calls": totals["calls"], "cached_calls": totals["cached_calls"], "tokens": totals["tokens"],
                  "usd": totals["cost"],
                  "calls_per_point": round(totals["calls"] / gained, 3) if gained and gained > 0 else None,
                  "usd_per_point": round(totals["cost"] / gained, 6) if gained and gained > 0 else None}
    if output:
        state.save(output)
        ckpt.remove()
    return OptimizeResult(state, b, a, totals["calls"], totals["cached_calls"], totals["tokens"], totals["cost"],
                          before, after)


def _dev_eval(runner: Runner, dev: list[Example], metric: Metric, ctx: OptimizeContext, candidate: Any,
              label: str) -> EvalResult:
    from lmp.optimize.runner import fingerprint

    key = f"dev:{label}:{fingerprint(candidate)}"
    saved = ctx.checkpoint.get(key)
    if saved is not None:
        res = EvalResult(score=saved["score"], results=[], n=saved["n"], ci=tuple(saved["ci"]))  # type: ignore[arg-type]
        return res
    res = evaluate(runner, dev, metric, candidate, concurrency=ctx.concurrency, progress=ctx.progress,
                   label=f"dev {label} ", budget=Budget(None), memo=ctx.memo, max_errors=len(dev))
    ctx.checkpoint.put(key, {"score": res.score, "n": res.n, "ci": list(res.ci),
                             "candidate": candidate_to(candidate or {})})
    return res
