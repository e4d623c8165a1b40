"""The one optimizer interface, and the pieces several optimizers share (trials, bootstrapping)."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from lmp.optimize.context import BudgetExhausted, OptimizeContext, TrialReport, resolve_lm, task_model_name
from lmp.optimize.costs import of_records
from lmp.optimize.data import Example
from lmp.optimize.evaluate import EvalResult, evaluate
from lmp.optimize.metrics import Metric
from lmp.optimize.runner import Candidate, Runner, demo_signature, fingerprint, labeled_demo
from lmp.optimize.state import PredictorState, State
from lmp.runtime import settings
from lmp.runtime.batch import Progress
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.trace import TraceEntry


class Optimizer(ABC):
    """`Optimizer(**settings).compile(handle, trainset, metric, devset=None, module=..., ctx=...) -> State`."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **overrides: Any) -> None:
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            raise LmpRuntimeError(f"optimizer `{self.name}` has no setting {', '.join(sorted(unknown))}; "
                                  f"its settings: {', '.join(f'{k}={v!r}' for k, v in self.defaults.items())}")
        self.settings: dict[str, Any] = {**self.defaults, **overrides}

    def compile(self, handle: Any, trainset: list[Example], metric: Metric, devset: list[Example] | None = None,
                *, module: str | None = None, ctx: OptimizeContext | None = None) -> State:
        ctx = ctx or OptimizeContext()
        runner = Runner(handle, module or default_module(handle))
        if not trainset:
            raise LmpRuntimeError("the training set is empty")
        self.best: tuple[float, Candidate] | None = None
        try:
            candidate, info = self.search(runner, trainset, devset, metric, ctx)
        except (BudgetExhausted, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt) or self.best is None:
                ctx.checkpoint.save()
                raise
            ctx.reporter.info(f"budget spent ({ctx.budget.spent} calls): keeping the best candidate so far")
            candidate, info = self.best[1], {"best_trial": self.best[0], "budget_exhausted": True}
        ctx.checkpoint.save()
        runner.apply(None)
        return runner.state_for(candidate, self.name, dict(self.settings), scores={"metric": metric.name, **info},
                                prompt_model=ctx.prompt_model_name(runner.program),
                                task_model=task_model_name(runner.program), seed=ctx.seed)

    @abstractmethod
    def search(self, runner: Runner, trainset: list[Example], devset: list[Example] | None, metric: Metric,
               ctx: OptimizeContext) -> tuple[Candidate, dict[str, Any]]: ...

    # ------------------------------------------------------------------ shared helpers

    def evaluate(self, runner: Runner, candidate: Candidate | None, examples: list[Example], metric: Metric,
                 ctx: OptimizeContext, stop_below: float | None = None, label: str = "") -> EvalResult:
        return evaluate(runner, examples, metric, candidate, concurrency=ctx.concurrency, progress=ctx.progress,
                        label=label, stop_below=stop_below, budget=ctx.budget, memo=ctx.memo, unparsed_is_zero=True)

    def trial(self, ctx: OptimizeContext, key: str, number: int, total: int | None,
              run: Callable[[], dict[str, Any]], note: str = "") -> dict[str, Any]:
        """Run (or reuse from the checkpoint) one trial; `run()` returns {"score", "candidate", ...}."""
        saved = ctx.checkpoint.get(key)
        resumed = saved is not None
        spent = {"calls": 0, "cached_calls": 0}
        if saved is None:
            n0 = len(ctx.budget.history)
            with ctx.ledger.phase("trials"):
                saved = run()
            spent = of_records(ctx.budget.history.records()[n0:])
            ctx.checkpoint.put(key, saved)
        cand = candidate_from(saved["candidate"])
        score = saved.get("score")
        if score is not None and not saved.get("partial") and not saved.get("minibatch") and (self.best is None or score > self.best[0]):
            self.best = (score, cand)
        upper = None
        if saved.get("partial"):
            upper = saved.get("upper", score)
            note += f" (stopped early: at most {upper:.3f}, cannot beat the best)"
            score = None
        ctx.reporter.trial(TrialReport(number, total, score, self.best[0] if self.best else None, ctx.budget.spent,
                                       note, resumed, paid=spent["calls"], cached=spent["cached_calls"],
                                       candidate=fingerprint(cand), partial=bool(saved.get("partial")),
                                       minibatch=bool(saved.get("minibatch")), upper=upper))
        return saved

    def scored_trial(self, runner: Runner, candidate: Candidate, examples: list[Example], metric: Metric,
                     ctx: OptimizeContext, key: str, number: int, total: int | None, note: str = "") -> dict[str, Any]:
        def run() -> dict[str, Any]:
            best = self.best[0] if self.best else None
            res = self.evaluate(runner, candidate, examples, metric, ctx, stop_below=best, label=f"trial {number} ")
            out = {"score": res.score, "partial": res.stopped_early, "candidate": candidate_to(candidate),
                   "calls": res.calls}
            if res.stopped_early:
                out["upper"] = upper_bound(res)
            return out

        return self.trial(ctx, key, number, total, run, note)


def upper_bound(res: EvalResult) -> float:
    """The best score a stopped evaluation could still have reached (every remaining row right)."""
    done = len(res.results)
    return (sum(r.score for r in res.results) + (res.n - done)) / res.n if res.n else 0.0


def default_module(handle: Any) -> str:
    program = handle.program
    mods = [n for n, m in program.modules.items() if not m.is_metric and m.path == program.path]
    if len(mods) == 1:
        return mods[0]
    raise LmpRuntimeError(f"{program.path} has {'no' if not mods else 'several'} modules; name the one to optimize"
                          + (f" ({', '.join(mods)})" if mods else ""))


def candidate_to(candidate: Candidate) -> dict[str, Any]:
    return {pid: ps.to_dict() for pid, ps in candidate.items()}


def candidate_from(data: dict[str, Any]) -> Candidate:
    return {pid: PredictorState.from_dict(v) for pid, v in data.items()}


# ------------------------------------------------------------------ demos


def labeled_candidate(runner: Runner, examples: list[Example], k: int, seed: int | None = 0,
                      exclude: str | None = None) -> Candidate:
    """Up to k raw examples as demos for every predictor whose fields the dataset has."""
    pool = [ex for ex in examples if ex.key != exclude]
    if seed is not None:
        pool = random.Random(seed).sample(pool, min(k, len(pool)))
    cand: Candidate = {}
    for pid in runner.predictor_ids:
        sig = demo_signature(runner.predictor(pid))
        demos = [d for ex in pool if (d := labeled_demo(sig, ex)) is not None][:k]
        if demos:
            cand[pid] = PredictorState(runner.hashes[pid], demos=demos)
    return cand


class Bootstrapper:
    """Runs the teacher over training examples and keeps traces that pass the metric.

    Results are memoized per example (and checkpointed), so every candidate built from them (random
    search, MIPRO's demo sets, knn's pool) pays for each teacher run once."""

    def __init__(self, runner: Runner, trainset: list[Example], metric: Metric, ctx: OptimizeContext,
                 max_labeled: int = 16, teacher_on_prompt_model: bool = False, threshold: float | None = None,
                 max_errors: int = 10) -> None:
        self.runner, self.trainset, self.metric, self.ctx = runner, trainset, metric, ctx
        self.max_labeled = max_labeled
        self.teacher_on_prompt_model = teacher_on_prompt_model and ctx.prompt_model is not None
        self.threshold = threshold
        self.max_errors = max_errors
        self.errors = 0
        self.teacher = labeled_candidate(runner, trainset, max_labeled, seed=0)
        self.tag = fingerprint(self.teacher) + (":prompt" if self.teacher_on_prompt_model else "")

    def _passes(self, score: float) -> bool:
        return score >= self.threshold if self.threshold is not None else score >= 1.0 or score is True

    def trace(self, example: Example) -> list[TraceEntry] | None:
        """The teacher's trace for `example` if it passed the metric, else None."""
        key = f"trace:{self.tag}:{example.key}"
        saved = self.ctx.checkpoint.get(key)
        if saved is None:
            saved = self._run(example)
            self.ctx.checkpoint.put(key, saved, flush=False)
        if not saved["ok"]:
            return None
        return [TraceEntry(e["predictor"], e["inputs"], e["outputs"]) for e in saved["trace"]]

    def _run(self, example: Example) -> dict[str, Any]:
        self.ctx.budget.check()
        # The teacher never sees the example it is answering among its demos.
        teacher = {pid: PredictorState(ps.signature_hash, ps.instructions,
                                       [d for d in ps.demos if d.get("inputs") != _inputs_for(d, example)])
                   for pid, ps in self.teacher.items()}
        self.runner.apply(teacher)
        try:
            with self._teacher_models(), self.ctx.ledger.phase("bootstrap"):
                pred, entries = self.runner.run(example)
            score = self.metric(example, pred)
        except (KeyboardInterrupt, BudgetExhausted):
            raise
        except Exception as exc:  # noqa: BLE001 - a failing example simply yields no demo
            self.errors += 1
            if self.errors > self.max_errors:
                raise LmpRuntimeError(f"bootstrapping failed on more than {self.max_errors} examples; last: "
                                      f"{example.where}: {type(exc).__name__}: {exc}") from exc
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": []}
        ok = self._passes(score)
        return {"ok": ok, "score": score,
                "trace": [{"predictor": e.predictor, "inputs": e.inputs, "outputs": e.outputs} for e in entries]}

    def _teacher_models(self) -> Any:
        if not self.teacher_on_prompt_model:
            return settings.context()
        lm = resolve_lm(self.runner.program, self.ctx.prompt_model)
        roles = {p.role or "default" for p in self.runner.interp.predictors.values()} | {"default"}
        return settings.context(lms=dict.fromkeys(roles, lm))

    def candidate(self, order: list[Example], max_bootstrapped: int, max_labeled: int, seed: int = 0) -> Candidate:
        """DSPy's BootstrapFewShot: the first `max_bootstrapped` passing traces give augmented demos to
        every predictor they went through; raw labeled demos of the other examples fill up to `max_labeled`."""
        rng = random.Random(seed)
        demos: dict[str, list[dict[str, Any]]] = {pid: [] for pid in self.runner.predictor_ids}
        used: set[str] = set()
        successes = 0
        # The teacher phase can be the longest part of a run: show it (the bar's total is an upper
        # bound; it stops once enough traces passed).
        if max_bootstrapped > 0 and order:
            self.ctx.reporter.info(f"teacher: running the program over up to {len(order)} training example(s) "
                                   f"until {max_bootstrapped} pass the metric")
        bar = Progress(len(order) if max_bootstrapped > 0 else 0, enabled=self.ctx.progress, label="teacher ",
                       unit="examples")
        try:
            for ex in order:
                if successes >= max_bootstrapped:
                    break
                entries = self.trace(ex)
                passed = successes + (entries is not None)
                bar.update(True, note=f" · {passed}/{max_bootstrapped} passed")  # not passing is no failure
                if entries is None:
                    continue
                successes += 1
                used.add(ex.key)
                by_pred: dict[str, list[TraceEntry]] = {}
                for e in entries:
                    if e.predictor in demos:
                        by_pred.setdefault(e.predictor, []).append(e)
                for pid, es in by_pred.items():
                    e = es[-1] if len(es) == 1 else rng.choice(es)  # one demo per predictor per example
                    demos[pid].append({"inputs": e.inputs, "outputs": e.outputs, "augmented": True})
        finally:
            bar.close()
        self.ctx.checkpoint.save()
        rest = [ex for ex in self.trainset if ex.key not in used]
        rng.shuffle(rest)
        cand: Candidate = {}
        for pid in self.runner.predictor_ids:
            ds = list(demos[pid])
            sig = demo_signature(self.runner.predictor(pid))
            for ex in rest:
                if len(ds) >= max_labeled:
                    break
                d = labeled_demo(sig, ex)
                if d is not None:
                    ds.append(d)
            if ds:
                cand[pid] = PredictorState(self.runner.hashes[pid], demos=ds)
        return cand


def _inputs_for(demo: dict[str, Any], example: Example) -> dict[str, Any]:
    values = example.record()
    return {k: values.get(k) for k in (demo.get("inputs") or {})}
