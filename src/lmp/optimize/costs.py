"""What an optimization run spent, per phase: calls paid and served from the cache, tokens, dollars, time.

Phases follow the run: `baseline` (dev before), `bootstrap` (teacher traces), `proposals` (instructions
written by the prompt model), `reflection` (GEPA's rewrites from traces and feedback), `trials` (candidate evaluations), `final` (dev after);
calls made outside any of them land in `other`. The ledger attributes the call history by position: a
phase switch closes the segment of records since the previous switch. Phases run one after another
(rows inside a phase run concurrently, but never two phases at once), so positions are enough and no
model call needs to carry a tag.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PHASES = ("baseline", "bootstrap", "proposals", "reflection", "trials", "final", "other")
LABELS = {"baseline": "baseline (dev before)", "bootstrap": "teacher traces", "proposals": "proposals",
          "reflection": "reflection (gepa)", "trials": "trials", "final": "final (dev after)", "other": "other"}
FIELDS = ("calls", "cached_calls", "tokens", "cost", "seconds")


def zero() -> dict[str, Any]:
    return {"calls": 0, "cached_calls": 0, "tokens": 0, "cost": 0.0, "seconds": 0.0}


def add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = zero()
    for k in FIELDS:
        out[k] = (a.get(k) or 0) + (b.get(k) or 0)
    out["cost"] = round(out["cost"], 6)
    out["seconds"] = round(out["seconds"], 3)
    return out


def of_records(records: list[Any]) -> dict[str, Any]:
    """Calls (paid: not cache hits), cached calls, tokens and dollars of a slice of the call history."""
    out = zero()
    for r in records:
        if r.cached:
            out["cached_calls"] += 1
        else:
            out["calls"] += 1
        out["tokens"] += r.prompt_tokens + r.completion_tokens
        out["cost"] += r.cost or 0.0
    return out


class Ledger:
    """Per-phase cost of one run. `before`: the phases of earlier legs of a resumed run (checkpoint)."""

    def __init__(self, history: Any, start: int | None = None,
                 before: list[dict[str, dict[str, Any]]] | None = None) -> None:
        self.history = history
        self._lock = threading.Lock()
        self._mark = len(history) if start is None else start
        self._phase = "other"
        self._t = time.perf_counter()
        self._leg: dict[str, dict[str, Any]] = {}
        self._entered: set[str] = set()
        self.before: dict[str, dict[str, Any]] = {}
        for leg in before or []:
            for name, part in (leg or {}).items():
                if isinstance(part, dict):
                    self.before[name] = add(self.before.get(name, zero()), part)

    @property
    def current(self) -> str:
        return self._phase

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Calls made inside the block count for `name`; the enclosing phase resumes afterwards."""
        previous = self._phase
        self._entered.add(name)
        self._switch(name)
        try:
            yield
        finally:
            self._switch(previous)

    def _segment(self) -> tuple[str, dict[str, Any], int, float]:
        end = len(self.history)
        now = time.perf_counter()
        part = of_records(self.history.records()[self._mark:end])
        part["seconds"] = now - self._t
        return self._phase, part, end, now

    def _switch(self, name: str) -> None:
        with self._lock:
            phase, part, end, now = self._segment()
            self._leg[phase] = add(self._leg.get(phase, zero()), part)
            self._mark, self._t, self._phase = end, now, name

    def leg(self) -> dict[str, dict[str, Any]]:
        """This process's part of the run, the open segment included (what the checkpoint saves)."""
        with self._lock:
            phase, part, _, _ = self._segment()
            out = {k: dict(v) for k, v in self._leg.items()}
            out[phase] = add(out.get(phase, zero()), part)
        # Bookkeeping outside any phase is not a cost line; a phase that ran is one even at 0 calls (a final
        # evaluation served from the memo says so).
        return {k: v for k, v in out.items() if v["calls"] or v["cached_calls"] or k in self._entered}

    def phases(self) -> dict[str, dict[str, Any]]:
        """Every leg of the run, per phase, in run order (phases with no calls and no time left out)."""
        leg = self.leg()
        names = [p for p in PHASES if p in leg or p in self.before] + \
            sorted((set(leg) | set(self.before)) - set(PHASES))
        return {n: add(self.before.get(n, zero()), leg.get(n, zero())) for n in names}


def total(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = zero()
    for part in phases.values():
        out = add(out, part)
    return out


def format_table(phases: dict[str, dict[str, Any]]) -> str:
    """The end-of-run table: one row per phase and a total."""
    rows = [(LABELS.get(n, n), p) for n, p in phases.items()] + [("total", total(phases))]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'phase':<{width}}  {'calls paid':>10}  {'cached':>6}  {'tokens':>9}  {'cost $':>9}  {'time':>8}"]
    for label, p in rows:
        if label == "total":
            lines.append("-" * len(lines[0]))
        lines.append(f"{label:<{width}}  {p['calls']:>10}  {p['cached_calls']:>6}  {p['tokens']:>9}  "
                     f"{p['cost']:>9.4f}  {p['seconds']:>7.1f}s")
    return "\n".join(lines)
