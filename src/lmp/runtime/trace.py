"""Predictor-call capture and state-driven demo selection (owned by `lmp.optimize`).

The interpreter routes every predictor call through `call(pred, inputs)`. That does two things:

1. **Trace capture.** Inside `with collect() as trace:` each call appends a `TraceEntry` (predictor id,
   inputs, outputs). Optimizers use it to turn a successful run into demos for *every* predictor of a
   pipeline, intermediate ones included. The collector is a ContextVar: threads and asyncio tasks that
   copy the context record into their own list.
2. **State features the plain `instructions`/`demos` cannot express**, read from the state the
   interpreter applied (`Interpreter.state.raw["predictors"][id]`):
   - `"knn": {"k": 3, "pool": [demo, ...]}` — demos chosen per input: the `k` pool demos whose inputs are
     most similar (BM25, local, no network) to this call's inputs;
   - `"ensemble": [{"instructions": ..., "demos": [...]}, ...]` — the call runs once per member and the
     outputs are reduced by majority vote.
   The predictor object is never mutated (a shallow copy carries the chosen demos), so this is thread-safe.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from lmp.runtime.values import Prediction, to_plain


@dataclass
class TraceEntry:
    predictor: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


_collector: contextvars.ContextVar[list[TraceEntry] | None] = contextvars.ContextVar("lmp_trace", default=None)


@contextlib.contextmanager
def collect() -> Iterator[list[TraceEntry]]:
    """Record every predictor call made in this context (and contexts copied from it)."""
    entries: list[TraceEntry] = []
    token = _collector.set(entries)
    try:
        yield entries
    finally:
        _collector.reset(token)


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No recording inside (e.g. an LM-judge metric run while a module's trace is being collected)."""
    token = _collector.set(None)
    try:
        yield
    finally:
        _collector.reset(token)


def call(pred: Any, inputs: dict[str, Any]) -> Prediction:
    """Run predictor `pred` on `inputs`, applying knn/ensemble state and recording the call."""
    entry = _state_entry(pred)
    if entry is not None and isinstance(entry.get("ensemble"), list) and entry["ensemble"]:
        result = _ensemble(pred, inputs, entry["ensemble"])
    elif entry is not None and isinstance(entry.get("knn"), dict):
        result = replace(pred, demos=select_demos(entry, inputs))(inputs)
    else:
        result = pred(inputs)
    rec = _collector.get()
    if rec is not None:
        rec.append(TraceEntry(pred.id, to_plain(dict(inputs)), to_plain(result.model_dump())))
    return result


def record(entries: list[TraceEntry]) -> None:
    """Append entries collected elsewhere (a `parallel` item's own trace) to this context's trace."""
    rec = _collector.get()
    if rec is not None:
        rec.extend(entries)


# ------------------------------------------------------------------ state features


def _state_entry(pred: Any) -> dict[str, Any] | None:
    state = getattr(getattr(pred, "host", None), "state", None)
    raw = getattr(state, "raw", None)
    if not isinstance(raw, dict):
        return None
    preds = raw.get("predictors")
    entry = preds.get(pred.id) if isinstance(preds, dict) else None
    return entry if isinstance(entry, dict) else None


def demo_text(values: dict[str, Any]) -> str:
    parts = []
    for k in sorted(values):
        v = values[k]
        parts.append(v if isinstance(v, str) else json.dumps(to_plain(v), ensure_ascii=False, default=str))
    return "\n".join(parts)


_index_lock = threading.Lock()
_indexes: dict[int, tuple[Any, Any]] = {}  # id(knn dict) -> (knn dict kept alive, BM25)


def select_demos(entry: dict[str, Any], inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The `k` pool demos nearest to `inputs` (BM25 over the demos' input text), best first."""
    from lmp.runtime.retrievers.bm25 import BM25

    knn = entry["knn"]
    pool = [d for d in knn.get("pool") or [] if isinstance(d, dict)]
    k = int(knn.get("k", 3))
    if not pool or k <= 0:
        return list(entry.get("demos") or [])
    with _index_lock:
        hit = _indexes.get(id(knn))
        if hit is None or hit[0] is not knn:
            if len(_indexes) > 64:
                _indexes.clear()
            hit = (knn, BM25(demo_text(d.get("inputs") or {}) for d in pool))
            _indexes[id(knn)] = hit
    scores = hit[1].scores(demo_text({k2: v for k2, v in inputs.items()}))
    order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))
    # Closest last: the demo right before the question is the one the model weighs most.
    return [pool[i] for i in reversed(order[:k])]


def _ensemble(pred: Any, inputs: dict[str, Any], members: list[Any]) -> Prediction:
    from lmp.runtime.errors import LMOutputError
    from lmp.runtime.predictors import majority

    results = []
    failures: list[LMOutputError] = []
    for m in members:
        if not isinstance(m, dict):
            continue
        variant = replace(pred, demos=list(m.get("demos") or []),
                          instructions=m.get("instructions", pred.instructions))
        with suspended():
            try:
                results.append(variant(inputs))
            except LMOutputError as exc:  # one member's unusable answer does not sink the vote
                failures.append(exc)
    if not results:
        if failures:
            raise failures[0]
        return pred(inputs)
    # The whole prediction whose deciding (last) output field won the vote: fields stay consistent.
    return majority(results)


__all__ = ["TraceEntry", "call", "collect", "record", "select_demos", "suspended"]
