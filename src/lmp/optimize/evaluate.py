"""Evaluation: run a module over a dev set, score each prediction, summarize.

- Rows run `concurrency` at a time (each in a copy of the caller's settings context).
- A prediction that fails (the model's output cannot be parsed, a tool raises) scores 0 and is kept
  with its error; a metric that raises scores 0 and is reported; more than `max_errors` failures stop
  the run with the first errors shown.
- `stop_below`: stop as soon as the score can no longer beat that value (optimizer trials).
- `out`: a JSONL file of results, appended per row; a rerun skips rows already scored for the same
  example and candidate (resume), and rewrites the file in row order when all are done.
- `memo`: (candidate, example) -> result, shared by an optimizer's trials, so no pair is run twice.
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import random
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TextIO

from lmp.optimize.context import Budget, BudgetExhausted
from lmp.optimize.data import Example
from lmp.optimize.feedback import MetricResult
from lmp.optimize.metrics import Metric
from lmp.optimize.runner import Candidate, Runner, fingerprint
from lmp.runtime.batch import cut_torn_tail, finished_rows, format_eta
from lmp.runtime.errors import LMOutputError, LmpRuntimeError
from lmp.runtime.trace import TraceEntry
from lmp.secrets import scrub, scrub_data


@dataclass
class RowResult:
    index: int
    example: Example
    prediction: dict[str, Any] | None
    score: float
    error: str | None = None  # the program failed on this row
    metric_error: str | None = None  # the metric raised
    trace: list[TraceEntry] = field(default_factory=list)
    unparsed: bool = False  # the error is the model's answer not fitting the output types
    feedback: MetricResult | None = None  # what the metric said beyond the score (feedback, objectives)

    def to_json(self, key: str) -> dict[str, Any]:
        # What the model said and what failed may repeat a key it was given (lmp.secrets).
        return {"_row": self.index, "_key": key, "inputs": self.example.inputs, "gold": self.example.gold,
                "prediction": scrub_data(self.prediction), "score": self.score,
                "error": scrub(self.error) if self.error else self.error,
                "metric_error": scrub(self.metric_error) if self.metric_error else self.metric_error,
                **({"metric": scrub_data(self.feedback.to_json())} if self._says_more() else {})}

    def _says_more(self) -> bool:
        """The metric gave feedback or objectives, not just the score: worth keeping per row."""
        f = self.feedback
        return f is not None and bool(f.feedback or f.predictor_feedback or set(f.objectives) - {"score"})


@dataclass
class EvalResult:
    score: float
    results: list[RowResult]
    n: int
    ci: tuple[float, float] = (0.0, 0.0)
    calls: int = 0
    cached_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    stopped_early: bool = False
    resumed: int = 0
    elapsed_s: float = 0.0

    @property
    def failed(self) -> list[RowResult]:
        return [r for r in self.results if r.error or r.metric_error]


class TooManyErrors(LmpRuntimeError):  # noqa: N818
    user_facing = True


# ------------------------------------------------------------------ confidence intervals


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_ci(scores: list[float], rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    if not scores:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(scores)
    means = sorted(sum(rng.choice(scores) for _ in range(n)) / n for _ in range(rounds))
    return (means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1])


def confidence_interval(scores: list[float]) -> tuple[float, float]:
    """95%: Wilson for 0/1 scores, a percentile bootstrap otherwise."""
    if all(s in (0.0, 1.0) for s in scores):
        return wilson(sum(scores), len(scores))
    return bootstrap_ci(scores)


# ------------------------------------------------------------------ progress


class ScoreBar:
    """`[#####.....] 12/40 · score 0.583 · ETA 41s` on stderr (terminals only unless forced). Rows
    reused from a checkpoint or --out file count for the score but not for the rate."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.n, self.sum = 0, 0.0
        self.reused = 0
        self.start = time.perf_counter()

    def reuse(self, score: float) -> None:
        self.reused += 1
        self.update(score)

    def update(self, score: float) -> None:
        self.n += 1
        self.sum += score
        if self.enabled:
            width = 24
            filled = int(width * self.n / self.total) if self.total else width
            ran = self.n - self.reused
            eta = ""
            if 0 < ran and self.n < self.total:
                per_row = (time.perf_counter() - self.start) / ran
                eta = f" · ETA {format_eta(per_row * (self.total - self.n))}"
            self.stream.write(f"\r{self.label}[{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total} "
                              f"· score {self.sum / self.n:.3f}{eta} ")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.n:
            self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------ evaluation


def score_row(runner: Runner, metric: Metric, index: int, example: Example, keep_trace: bool = False) -> RowResult:
    try:
        pred, entries = runner.run(example)
    except (KeyboardInterrupt, BudgetExhausted):
        raise
    except Exception as exc:  # noqa: BLE001 - a failing row scores 0 and is reported
        return RowResult(index, example, None, 0.0, error=f"{type(exc).__name__}: {exc}",
                         unparsed=isinstance(exc, LMOutputError))
    try:
        detail = metric.result(example, pred, entries)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a metric bug on one row is not fatal
        return RowResult(index, example, pred, 0.0, metric_error=f"{type(exc).__name__}: {exc}",
                         trace=entries if keep_trace else [])
    return RowResult(index, example, pred, detail.score, trace=entries if keep_trace else [], feedback=detail)


def evaluate(runner: Runner, examples: list[Example], metric: Metric, candidate: Candidate | None = None, *,
             concurrency: int = 4, progress: bool | None = False, label: str = "", stop_below: float | None = None,
             budget: Budget | None = None, out: str | None = None, memo: dict[tuple[str, str], Any] | None = None,
             max_errors: int | None = None, keep_traces: bool = False, unparsed_is_zero: bool = False,
             raise_when_complete: bool = True) -> EvalResult:
    """Score `candidate` on `examples`. Failing rows score 0; more than `max_errors` of them (default: half
    the rows, at least 10, so a few failures do not stop an optimizer's trial on a small set; `lmp eval`
    passes half the rows) stop the evaluation with TooManyErrors, since the program is likely broken.
    `unparsed_is_zero`: answers that do not parse are only a low score, not an error (an optimizer's
    trial of a weak candidate must not end the whole run). `raise_when_complete=False`: when every row ran
    anyway, failures past the cap are left in the result rather than raised (`lmp eval` shows them all)."""
    start = time.perf_counter()
    runner.apply(candidate)
    fp = fingerprint(candidate)
    budget = budget or Budget()
    calls_start = len(budget.history)
    n = len(examples)
    results: dict[int, RowResult] = {}
    resumed = 0
    if out:
        for i, rec in finished_rows(out).items():
            if i < n and rec.get("_key") == f"{fp}:{examples[i].key}" and rec.get("error") is None:
                said = rec.get("metric")
                results[i] = RowResult(i, examples[i], rec.get("prediction"), float(rec.get("score") or 0.0),
                                       metric_error=rec.get("metric_error"),
                                       feedback=MetricResult.from_json(said) if isinstance(said, dict) else None)
                resumed += 1
    if memo is not None:
        for i, ex in enumerate(examples):
            hit = memo.get((fp, ex.key))
            if i not in results and hit is not None and (not keep_traces or hit.trace or hit.error):
                results[i] = RowResult(i, ex, hit.prediction, hit.score, hit.error, hit.metric_error, hit.trace,
                                       hit.unparsed, hit.feedback)
    todo = [i for i in range(n) if i not in results]
    bar = ScoreBar(n, label, enabled=progress)
    for r in results.values():
        bar.reuse(r.score)
    lock = threading.Lock()
    state = {"sum": sum(r.score for r in results.values()), "done": len(results), "errors": 0, "stop": False}
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
        # A record half-written by a killed run would swallow the first record appended after it.
        cut_torn_tail(out)
    out_fh = open(out, "a", encoding="utf-8") if out else None  # noqa: SIM115 - closed in finally
    cap = max_errors if max_errors is not None else max(10, n // 2)

    def work(i: int) -> None:
        if state["stop"]:
            return
        budget.check()
        r = score_row(runner, metric, i, examples[i], keep_traces)
        with lock:
            results[i] = r
            state["sum"] += r.score
            state["done"] += 1
            if (r.error and not (unparsed_is_zero and r.unparsed)) or r.metric_error:
                state["errors"] += 1
            # An answer that did not parse is an answer (the same prompt gets it again, from the cache at
            # best): remembered, so the baseline's unparsed rows are not asked again by a zero-shot trial.
            # A call that failed (server down, tool error) may succeed next time: not remembered.
            if memo is not None and (not r.error or r.unparsed):
                memo[(fp, examples[i].key)] = r
            if out_fh is not None:
                out_fh.write(json.dumps(r.to_json(f"{fp}:{examples[i].key}"), ensure_ascii=False, default=str) + "\n")
                out_fh.flush()
            bar.update(r.score)
            if stop_below is not None and (state["sum"] + (n - state["done"])) / n <= stop_below:
                state["stop"] = True  # even perfect scores on the rest cannot beat the best

    try:
        if concurrency <= 1 or len(todo) <= 1:
            for i in todo:
                work(i)
                if state["stop"]:
                    break
                if state["errors"] > cap:
                    break
        else:
            pool = ThreadPoolExecutor(max_workers=concurrency)
            pending: set[Future[None]] = set()
            try:
                for i in todo:
                    pending.add(pool.submit(contextvars.copy_context().run, work, i))
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for f in finished:
                        f.result()  # re-raise BudgetExhausted / KeyboardInterrupt from workers
                    if state["errors"] > cap:
                        state["stop"] = True
            except BaseException:
                state["stop"] = True
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        if out_fh is not None:
            out_fh.close()
        bar.close()
    if state["errors"] > cap and (raise_when_complete or len(results) < n):
        shown = [r for r in results.values() if r.error or r.metric_error][:3]
        raise TooManyErrors(f"{state['errors']} rows failed (more than {cap}); first errors:\n"
                            + "\n".join(f"  {r.example.where}: {r.error or r.metric_error}" for r in shown))
    rows = [results[i] for i in sorted(results)]
    scores = [r.score for r in rows]
    recs = budget.history.records()[calls_start:]
    res = EvalResult(
        score=sum(scores) / n if n else 0.0, results=rows, n=n, ci=confidence_interval(scores) if scores else (0, 0),
        calls=sum(1 for r in recs if not r.cached), cached_calls=sum(1 for r in recs if r.cached),
        tokens=sum(r.prompt_tokens + r.completion_tokens for r in recs), cost=sum(r.cost for r in recs),
        stopped_early=len(rows) < n, resumed=resumed, elapsed_s=time.perf_counter() - start)
    if out and not res.stopped_early:
        _compact(out, rows, fp)
    return res


def _compact(path: str, rows: list[RowResult], fp: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json(f"{fp}:{r.example.key}"), ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------ reporting


def _cell(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _values(d: dict[str, Any] | None) -> Any:
    if not d:
        return ""
    return next(iter(d.values())) if len(d) == 1 else d


def format_table(result: EvalResult, limit: int | None = 50, width: int = 110) -> str:
    col = max(12, (width - 16) // 3)
    lines = [f"{'#':>4}  {'input':<{col}} {'prediction':<{col}} {'gold':<{col}} score"]
    rows = result.results if limit is None else result.results[:limit]
    for r in rows:
        pred = f"ERROR {r.error}" if r.error else _values(r.prediction)
        lines.append(f"{r.index + 1:>4}  {_cell(_values(r.example.inputs), col):<{col}} {_cell(pred, col):<{col}} "
                     f"{_cell(_values(r.example.gold), col):<{col}} {r.score:.2f}"
                     + ("  (metric error)" if r.metric_error else ""))
    if limit is not None and len(result.results) > limit:
        lines.append(f"      ... {len(result.results) - limit} more rows (--out FILE keeps them all)")
    return "\n".join(lines)


def format_summary(result: EvalResult, metric: str) -> str:
    lo, hi = result.ci
    parts = [f"{metric}: {result.score:.3f} (95% CI {lo:.3f}–{hi:.3f}, n={result.n})",
             f"LM calls: {result.calls} (+{result.cached_calls} cached) · tokens: {result.tokens} · "
             f"cost: ${result.cost:.4f} · {result.elapsed_s:.1f}s"]
    failed = result.failed
    if failed:
        parts.append(f"{len(failed)} row(s) failed or had metric errors (scored 0), e.g. "
                     f"{failed[0].example.where}: {failed[0].error or failed[0].metric_error}")
    if result.resumed:
        parts.append(f"{result.resumed} row(s) reused from the --out file")
    return "\n".join(parts)
