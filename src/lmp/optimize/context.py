"""What every optimizer run shares: the call budget, the checkpoint, progress reporting, the seed,
the prompt model and a memo of scored (candidate, example) pairs."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lmp.optimize.costs import Ledger
from lmp.runtime import settings
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.lm.base import LM
from lmp.secrets import scrub_data


class BudgetExhausted(LmpRuntimeError):  # noqa: N818 - reads better at the raise sites
    """The `--budget` of model calls is spent; the optimizer keeps the best candidate so far."""

    user_facing = True


class Budget:
    """Counts model calls that were not cache hits (cached calls are free), from the History.

    `before` holds the totals of earlier legs of a resumed run (from the checkpoint), so the budget
    and the state file's cost cover the whole run, not only the last leg."""

    def __init__(self, limit: int | None = None, spent_before: int = 0, before: dict[str, Any] | None = None) -> None:
        self.limit = limit
        self.history = settings.history()
        self.start = len(self.history)
        self.before = {**ZERO_COST, **(before or {})}
        self.before["calls"] = int(self.before["calls"]) + spent_before

    def records(self) -> list[Any]:
        return self.history.records()[self.start:]

    @property
    def spent(self) -> int:
        return int(self.before["calls"]) + sum(1 for r in self.records() if not r.cached)

    def leg_totals(self) -> dict[str, Any]:
        """This leg only (since this process started the run)."""
        recs = self.records()
        return {"calls": sum(1 for r in recs if not r.cached),
                "cached_calls": sum(1 for r in recs if r.cached),
                "tokens": sum(r.prompt_tokens + r.completion_tokens for r in recs),
                "cost": round(sum(r.cost for r in recs), 6)}

    def totals(self) -> dict[str, Any]:
        """Every leg of the run: earlier legs (resumed from a checkpoint) plus this one."""
        return add_costs(self.before, self.leg_totals())

    def exhausted(self) -> bool:
        return self.limit is not None and self.spent >= self.limit

    def check(self) -> None:
        if self.exhausted():
            raise BudgetExhausted(f"the budget of {self.limit} model calls is spent")


ZERO_COST: dict[str, Any] = {"calls": 0, "cached_calls": 0, "tokens": 0, "cost": 0.0}


def add_costs(*parts: dict[str, Any]) -> dict[str, Any]:
    out = dict(ZERO_COST)
    for part in parts:
        for k in ("calls", "cached_calls", "tokens"):
            out[k] += int(part.get(k) or 0)
        out["cost"] += float(part.get("cost") or 0.0)
    out["cost"] = round(out["cost"], 6)
    return out


class Checkpoint:
    """A JSON file of finished work (trials, bootstrap traces, evaluations) keyed by strings.

    The header (optimizer, settings, program and data hashes) must match for a rerun to reuse it.
    It also keeps the cost of every leg of the run (each process that worked on it, under `LEGS`),
    refreshed at each save through `cost_of_leg`, so a run killed and resumed reports its whole cost."""

    LEGS = "_legs"
    # Bookkeeping entries, not finished steps (`calls_spent` is the pre-legs format).
    _META = (LEGS, "calls_spent")

    def __init__(self, path: str | None, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self.data: dict[str, Any] = {}
        self.resumed = 0
        self._dirty = 0
        self._last_save = 0.0
        self.cost_of_leg: Callable[[], dict[str, Any]] | None = None
        if path and os.path.exists(path):
            try:
                saved = json.loads(Path(path).read_text(encoding="utf-8"))
            except ValueError:
                saved = {}
            if saved.get("header") == header:
                self.data = saved.get("data", {})
                self.resumed = sum(1 for k in self.data if k not in self._META)
        legs = self.data.get(self.LEGS)
        self.previous_legs: list[dict[str, Any]] = [dict(x) for x in legs if isinstance(x, dict)] \
            if isinstance(legs, list) else []
        if not self.previous_legs and self.data.get("calls_spent"):
            self.previous_legs = [{"calls": int(self.data["calls_spent"])}]

    def earlier_cost(self) -> dict[str, Any]:
        """The summed cost of the legs before this one."""
        return add_costs(*self.previous_legs)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def put(self, key: str, value: Any, flush: bool = True) -> None:
        # Scrubbed once on the way in (not per save): results quote model answers and errors,
        # which may repeat a key the model was given.
        self.data[key] = scrub_data(value)
        self._dirty += 1
        if flush:
            self.save()

    def save(self, force: bool = False) -> None:
        if not self.path or not (self._dirty or force):
            return
        if self.cost_of_leg is not None:
            self.data[self.LEGS] = [*self.previous_legs, self.cost_of_leg()]
            self.data.pop("calls_spent", None)
        p = Path(self.path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps({"header": scrub_data(self.header), "data": self.data}, ensure_ascii=False,
                                  default=str),
                       encoding="utf-8")
        os.replace(tmp, p)
        self._dirty = 0
        self._last_save = time.time()

    def remove(self) -> None:
        if self.path and os.path.exists(self.path):
            os.remove(self.path)


@dataclass
class TrialReport:
    trial: int
    total: int | None
    score: float | None
    best: float | None
    calls: int  # paid calls of the whole run so far
    note: str = ""
    resumed: bool = False
    paid: int = 0  # this trial's calls that reached the model
    cached: int = 0  # this trial's calls served from the response cache (free)
    candidate: str = ""  # the candidate's fingerprint
    partial: bool = False  # stopped early: `score` is None, `upper` the most it could have reached
    minibatch: bool = False
    upper: float | None = None


class Reporter:
    """One line per trial on stderr (or a callback, for tests and editors)."""

    def __init__(self, stream: TextIO | None = None, callback: Callable[[TrialReport], None] | None = None,
                 quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.callback = callback
        self.quiet = quiet
        self.trials: list[TrialReport] = []
        self.proposals: list[dict[str, Any]] = []  # every proposed instruction, accepted or rejected (reports)

    def trial(self, report: TrialReport) -> None:
        self.trials.append(report)
        if self.callback is not None:
            self.callback(report)
        if self.quiet:
            return
        of = f"/{report.total}" if report.total else ""
        score = "-" if report.score is None else f"{report.score:.3f}"
        best = "-" if report.best is None else f"{report.best:.3f}"
        tag = " (from checkpoint)" if report.resumed else ""
        note = f" · {report.note}" if report.note else ""
        # Paid and cached apart: a cache hit costs nothing, and the run's total is what was paid.
        spent = "0 calls" if report.resumed else f"{report.paid} calls paid + {report.cached} cached"
        self.stream.write(f"trial {report.trial}{of}: score {score} · best {best} · {spent} "
                          f"({report.calls} paid in all){note}{tag}\n")
        self.stream.flush()

    def info(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()


@dataclass
class OptimizeContext:
    budget: Budget = field(default_factory=Budget)
    checkpoint: Checkpoint = field(default_factory=lambda: Checkpoint(None, {}))
    reporter: Reporter = field(default_factory=lambda: Reporter(quiet=True))
    seed: int = 0
    concurrency: int = 4
    prompt_model: str | None = None  # a role or a model id; None: the task model
    progress: bool = False  # per-row progress bars inside evaluations
    memo: dict[tuple[str, str], Any] = field(default_factory=dict)  # (candidate fp, example key) -> RowResult
    ledger: Ledger = field(default_factory=lambda: Ledger(settings.history()))  # cost per phase
    # Every proposed instruction of the run, accepted or rejected with a reason (lmp.optimize.proposal_check).
    proposals: list[dict[str, Any]] = field(default_factory=list)

    def note_proposals(self, log: list[dict[str, Any]]) -> None:
        """Record a batch of proposals and show how many were rejected, and why."""
        from lmp.optimize.proposal_check import REASONS, summarize

        self.proposals.extend(log)
        self.reporter.proposals.extend(log)
        if not log or (len(log) == 1 and log[0].get("ok")):
            return  # one accepted proposal (a GEPA reflection) is not worth a line of its own
        who = log[0].get("predictor") or "the program"
        self.reporter.info(f"proposals for {who}: {summarize(log)}")
        for e in [e for e in log if not e.get("ok")][:3]:
            why = REASONS.get(e.get("reason") or "", e.get("reason") or "failed")
            detail = f" ({e['detail']})" if e.get("detail") else ""
            text = e.get("text") or ""
            shown = repr(text[:100] + ("…" if len(text) > 100 else "")) if text else "(no parsable answer)"
            self.reporter.info(f"  rejected: {why}{detail}: {shown}")

    def prompt_lm(self, program: Any) -> LM:
        return resolve_lm(program, self.prompt_model)

    def prompt_model_name(self, program: Any) -> str | None:
        if self.prompt_model is None:
            return None
        return getattr(self.prompt_lm(program), "model", self.prompt_model)


def resolve_lm(program: Any, role_or_model: str | None) -> LM:
    """An LM for a role of the program (`judge`), or for a model id (`openai/gpt-4o`, `local`)."""
    if role_or_model is None:
        return settings.lm_for(program, None)
    cur = settings.current()
    if role_or_model in cur.lms or role_or_model in (getattr(program, "models", {}) or {}) \
            or role_or_model in cur.overrides() or role_or_model == "default":
        return settings.lm_for(program, role_or_model)
    with settings.context(models={"lmp_prompt_model": role_or_model}):
        return settings.lm_for(program, "lmp_prompt_model")


def task_model_name(program: Any) -> str | None:
    cur = settings.current()
    if "default" in cur.lms:
        return getattr(cur.lms["default"], "model", None)
    if cur.lm is not None and "default" not in cur.overrides():
        return getattr(cur.lm, "model", None)
    try:
        return settings.model_for(program, None)[0]
    except Exception:  # noqa: BLE001 - only a label in the state file
        return None
