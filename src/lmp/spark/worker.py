"""What runs inside a Spark Python worker: the program travels as text, the interpreter is built here.

A `Bundle` holds the program's source files, the state as JSON text, the module and the model
roles; it is what a UDF closure captures (a few KB, never a pickled interpreter). In each Python
worker the first batch writes the sources to a temp folder named by the bundle's content hash and
loads them; later batches (and later tasks: Spark reuses Python workers) find the loaded program in
a per-process table under the same hash. LM objects, and with them one keep-alive HTTP client pool
per model, are memoized per process by lmp's settings, and the disk cache is the worker machine's
(`cache=True`: `$LMP_CACHE_DIR` or the worker user's cache folder, `~/.cache/lmp`; a path: that folder).

Rows of a batch run on a thread pool bounded by the bundle's `concurrency` (per Python worker, so
the rows in flight across a cluster are concurrency x executor cores).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lmp.runtime.lm.history import CallRecord, History, Totals
from lmp.secrets import scrub


@dataclass(frozen=True)
class Bundle:
    files: dict[str, str]  # path relative to the program's folder -> source text
    main: str  # the main file's key in `files`
    state: str | None  # the state as JSON text, or None
    module: str
    models: dict[str, str] = field(default_factory=dict)  # role -> model id
    cache: bool | str = True
    concurrency: int = 8

    @property
    def key(self) -> str:
        """Content hash of what the interpreter is built from (not the run settings)."""
        blob = json.dumps([sorted(self.files.items()), self.main, self.state], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


# ------------------------------------------------------------------ per-row accounting

_meter: contextvars.ContextVar[Totals | None] = contextvars.ContextVar("lmp_spark_meter", default=None)


class MeteredHistory(History):
    """The worker's call history: each call is also added to the totals of the row that made it
    (a ContextVar set per row), so per-row calls, tokens and cost reach the driver."""

    def add(self, record: CallRecord) -> CallRecord:
        clean = super().add(record)
        totals = _meter.get()
        if totals is not None:
            totals.add(clean)
        return clean


# One per process: LMs are memoized per (model, params, cache, history), so a stable history object
# is what keeps one client pool per model for the worker's lifetime. Records are only counted.
_HISTORY = MeteredHistory(max_records=1000)
_handles: dict[str, Any] = {}
_extras: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def handle_for(bundle: Bundle) -> Any:
    """The loaded program for `bundle`, built once per Python worker (memoized by content hash)."""
    key = bundle.key
    with _lock:
        handle = _handles.get(key)
        if handle is not None:
            return handle
        import lmp

        root = Path(tempfile.gettempdir()) / "lmp-spark" / key
        for rel, text in bundle.files.items():
            dest = root / rel
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, dest)  # another worker on this machine may be writing the same file
        state = json.loads(bundle.state) if bundle.state is not None else None
        handle = lmp.load(root / bundle.main, state=state)
        handle.interpreter.module(bundle.module)
        _handles[key] = handle
        return handle


def memo(bundle: Bundle, name: str, build: Callable[[], Any]) -> Any:
    """A per-worker object derived from the bundle's program (e.g. an eval runner and metric)."""
    key = (bundle.key, name)
    with _lock:
        if key not in _extras:
            _extras[key] = build()
        return _extras[key]


def metered(bundle: Bundle, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `fn` under the bundle's settings; add `calls`, `cached_calls`, `tokens`, `cost` of its LM calls."""
    from lmp.runtime import settings

    totals = Totals()
    token = _meter.set(totals)
    try:
        with settings.context(models=dict(bundle.models), cache=bundle.cache, history=_HISTORY):
            out = fn()
    finally:
        _meter.reset(token)
    out.update(calls=totals.calls - totals.cached, cached_calls=totals.cached, tokens=totals.tokens,
               cost=float(totals.cost))
    return out


def run_concurrently(bundle: Bundle, fns: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run the row functions of one batch, `bundle.concurrency` at a time, results in order."""
    if not fns:
        return []

    def one(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return metered(bundle, fn)

    width = max(1, min(bundle.concurrency, len(fns)))
    if width == 1:
        return [one(fn) for fn in fns]
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="lmp-spark") as pool:
        return list(pool.map(lambda fn: contextvars.copy_context().run(one, fn), fns))


# ------------------------------------------------------------------ the public UDF's function


def module_types(handle: Any, module: str) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    mod = handle.interpreter.module(module)
    return [(p.name, p.type) for p in mod.params], [(f.name, f.type) for f in mod.outputs]


def udf_function(bundle: Bundle) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The pandas function of `lmp.spark.udf`: a batch of input structs -> a batch of output structs."""

    def run_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from lmp.runtime.batch import row_record
        from lmp.spark.types import ERROR_COLUMN, from_spark, to_spark

        handle = handle_for(bundle)
        inputs_t, outputs_t = module_types(handle, bundle.module)
        columns = [name for name, _ in outputs_t] + [ERROR_COLUMN]

        def run_row(inputs: dict[str, Any]) -> Any:
            return handle.interpreter.run(bundle.module, inputs)

        for pdf in batches:
            fns = []
            for i, cells in enumerate(pdf.to_dict(orient="records")):
                inputs = {}
                for name, t in inputs_t:
                    if name in cells:
                        value = from_spark(cells[name], t)
                        if value is not None:
                            inputs[name] = value
                fns.append(lambda i=i, inputs=inputs: row_record(run_row, i, inputs))
            out = []
            for rec in run_concurrently(bundle, fns):
                if "output" in rec:
                    row = {name: to_spark(rec["output"].get(name), t) for name, t in outputs_t}
                    row[ERROR_COLUMN] = None
                else:
                    row = {name: None for name, _ in outputs_t}
                    row[ERROR_COLUMN] = scrub(rec["error"])
                out.append(row)
            yield _frame(out, columns)

    return run_batches


def _frame(rows: list[dict[str, Any]], columns: Any) -> pd.DataFrame:
    """Every key present in every row (a missing key would become NaN, which Arrow cannot read as a
    struct or list), as object columns so None stays None."""
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in columns})


# ------------------------------------------------------------------ the CLI jobs' functions

JOB_STATUS = ("ok", "error", "skipped", "blank")


def _cell_inputs(cells: dict[str, Any], inputs_t: list[tuple[str, Any]], kind: str) -> dict[str, Any]:
    """A typed (parquet) or text (csv) row's cells as the module's inputs; missing cells are left out."""
    from lmp.runtime.inputs import InputValueError, parse_cli_value
    from lmp.spark.types import from_spark, is_missing

    data: dict[str, Any] = {}
    for name, t in inputs_t:
        cell = cells.get(name)
        if is_missing(cell):
            continue
        if kind == "csv":
            try:
                data[name] = parse_cli_value(str(cell), t, name)
            except InputValueError as exc:
                raise ValueError(str(exc)) from None
        else:
            data[name] = from_spark(cell, t)
    return data


def run_job_function(bundle: Bundle, kind: str) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """`lmp run --engine spark`: batches of (_row, _prev_hash, _line | input columns) -> one record per
    row (status, _hash, input JSON, typed output, error, calls...). A row whose input hash equals
    `_prev_hash` (it already succeeded, --retry-failed) is `skipped` without running."""

    def run_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from lmp.runtime.batch import parse_line, row_inputs, row_record
        from lmp.spark.types import to_spark

        handle = handle_for(bundle)
        inputs_t, outputs_t = module_types(handle, bundle.module)
        keys = {name for name, _ in inputs_t}

        def run_row(inputs: dict[str, Any]) -> Any:
            return handle.interpreter.run(bundle.module, inputs)

        def finish(rec: dict[str, Any]) -> dict[str, Any]:
            ok = "output" in rec
            return {"status": "ok" if ok else "error", "_hash": rec.get("_hash"),
                    "input": json.dumps(rec["input"], ensure_ascii=False, default=str) if "input" in rec else None,
                    "output": {n: to_spark(rec["output"].get(n), t) for n, t in outputs_t} if ok else None,
                    "error": None if ok else scrub(rec["error"])}

        def plan(cells: dict[str, Any]) -> Callable[[], dict[str, Any]]:
            number = int(cells["_row"])
            prev = cells.get("_prev_hash")
            if kind == "jsonl":
                row = parse_line(number, cells.get("_line") or "")
                if row is None:
                    return lambda: {"status": "blank"}
                if row.data is None:
                    return lambda: finish({"_row": number, "_hash": None, "error": row.error})
                data = row.data
            else:
                try:
                    data = _cell_inputs(cells, inputs_t, kind)
                except ValueError as exc:
                    message = str(exc)
                    return lambda: finish({"_row": number, "_hash": None, "error": f"InputValueError: {message}"})
            inputs, h = row_inputs(data, keys)
            if isinstance(prev, str) and prev == h:
                return lambda: {"status": "skipped", "_hash": h}
            return lambda: finish(row_record(run_row, number, inputs, h))

        for pdf in batches:
            fns = [plan(cells) for cells in pdf.to_dict(orient="records")]
            yield _frame(run_concurrently(bundle, fns), JOB_COLUMNS)

    return run_batches


JOB_COLUMNS = ("status", "_hash", "input", "output", "error", "calls", "cached_calls", "tokens", "cost")


def eval_job_function(bundle: Bundle, metric: str) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """`lmp eval --engine spark`: batches of (_idx, _example JSON) -> each row's prediction and score,
    through `lmp.optimize.evaluate.score_row` (the local evaluation's own row function)."""

    def run_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from lmp.optimize.data import Example
        from lmp.optimize.evaluate import score_row
        from lmp.optimize.metrics import resolve_metric
        from lmp.optimize.runner import Runner

        handle = handle_for(bundle)

        def build() -> tuple[Any, Any]:
            runner = Runner(handle, bundle.module)
            runner.apply(None)
            return runner, resolve_metric(metric, handle)

        runner, scorer = memo(bundle, "eval:" + metric, build)

        def plan(idx: int, ex: dict[str, Any]) -> Callable[[], dict[str, Any]]:
            example = Example(ex["inputs"], ex["gold"], ex["where"], ex["labels"])

            def one() -> dict[str, Any]:
                r = score_row(runner, scorer, idx, example)
                return {"prediction": None if r.prediction is None else json.dumps(r.prediction, ensure_ascii=False,
                                                                                     default=str),
                        "score": float(r.score), "error": scrub(r.error) if r.error else None,
                        "metric_error": scrub(r.metric_error) if r.metric_error else None, "unparsed": r.unparsed}
            return one

        for pdf in batches:
            fns = [plan(int(c["_idx"]), json.loads(c["_example"])) for c in pdf.to_dict(orient="records")]
            yield _frame(run_concurrently(bundle, fns), EVAL_COLUMNS)

    return run_batches


EVAL_COLUMNS = ("prediction", "score", "error", "metric_error", "unparsed", "calls", "cached_calls", "tokens", "cost")
