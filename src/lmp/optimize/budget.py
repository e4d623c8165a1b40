"""`--budget`: calls, tokens, dollars or a preset, enforced before work starts so it is never exceeded.

- `--budget 200` / `calls=200`: uncached model calls (cache hits are free);
- `tokens=50000`: prompt + completion tokens of uncached calls;
- `cost=0.50`: dollars (priced models);
- `light|medium|heavy`: a preset of the optimizer (`auto`, for gepa and mipro).

Several may be combined: `calls=300,tokens=200000`. The plain `Budget` stops once the limit is reached,
so the rows in flight may overshoot it; `LimitBudget` reserves the most a row has cost so far (times the
rows that may run at once) before each row, and an optimizer asks `can_afford` before a single call
(GEPA's reflection), so the limits hold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from lmp.optimize.context import Budget, BudgetExhausted
from lmp.runtime.errors import LmpRuntimeError

PRESETS = ("light", "medium", "heavy")


class BudgetSpecError(LmpRuntimeError):
    user_facing = True


@dataclass(frozen=True)
class BudgetSpec:
    calls: int | None = None
    tokens: int | None = None
    cost: float | None = None
    preset: str | None = None

    @property
    def limited(self) -> bool:
        return self.calls is not None or self.tokens is not None or self.cost is not None

    def describe(self) -> str:
        parts = [f"{self.calls} calls" if self.calls is not None else "",
                 f"{self.tokens} tokens" if self.tokens is not None else "",
                 f"${self.cost:g}" if self.cost is not None else "", self.preset or ""]
        return ", ".join(p for p in parts if p)


def parse_budget(text: str | int | None) -> BudgetSpec:
    if text is None or text == "":
        return BudgetSpec()
    if isinstance(text, int):
        return BudgetSpec(calls=text)
    calls = tokens = None
    cost = None
    preset = None
    for part in str(text).split(","):
        part = part.strip()
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        try:
            if not sep and key.isdigit():
                calls = int(key)
            elif not sep and key in PRESETS:
                preset = key
            elif key == "calls":
                calls = int(value)
            elif key == "tokens":
                tokens = int(value)
            elif key in ("cost", "usd"):
                cost = float(value.lstrip("$"))
            else:
                raise ValueError
        except ValueError:
            raise BudgetSpecError(f"--budget: cannot read {part!r}; use N (calls), calls=N, tokens=N, cost=USD or "
                                  "light|medium|heavy, comma-separated") from None
    for name, v in (("calls", calls), ("tokens", tokens), ("cost", cost)):
        if v is not None and v <= 0:
            raise BudgetSpecError(f"--budget {name} must be positive, got {v}")
    return BudgetSpec(calls, tokens, cost, preset)


class LimitBudget(Budget):
    """Calls, tokens and dollars, with a per-row reservation so concurrent rows cannot overshoot."""

    def __init__(self, spec: BudgetSpec, before: dict[str, Any] | None = None, concurrency: int = 1) -> None:
        super().__init__(spec.calls, before=before)
        self.spec = spec
        self.concurrency = max(1, concurrency)
        self.row_calls = 1  # the most one row has cost so far (learned from evaluations)
        self.row_tokens = 0
        self.call_tokens: dict[str, int] = {}  # the most one call has cost, per predictor id (from the History)
        self._scanned = 0
        self._lock = threading.Lock()

    def _scan(self) -> None:
        """Learn the largest call per predictor from calls made since the last look."""
        recs = self.records()
        with self._lock:
            for r in recs[self._scanned:]:
                if not r.cached:
                    key = r.predictor or ""
                    self.call_tokens[key] = max(self.call_tokens.get(key, 0), r.prompt_tokens + r.completion_tokens)
            self._scanned = len(recs)

    def tokens_per_call(self, predictor: str | None = None) -> int:
        """The most one call has cost: of `predictor` when given and seen, else of the program's calls."""
        self._scan()
        if predictor is not None and predictor in self.call_tokens:
            return self.call_tokens[predictor]
        program = [v for k, v in self.call_tokens.items() if not k.startswith("lmp.optimize.")]
        return max(program, default=0)

    def spent_tokens(self) -> int:
        return int(self.totals()["tokens"]) if self.spec.tokens is not None else 0

    def spent_cost(self) -> float:
        return float(self.totals()["cost"]) if self.spec.cost is not None else 0.0

    def totals(self) -> dict[str, Any]:
        # Only uncached tokens are paid: the History's token totals include cache hits, so recount.
        out = super().totals()
        recs = [r for r in self.records() if not r.cached]
        out["paid_tokens"] = int(self.before.get("paid_tokens", self.before.get("tokens", 0)) or 0) + sum(
            r.prompt_tokens + r.completion_tokens for r in recs)
        return out

    def paid_tokens(self) -> int:
        return int(self.totals()["paid_tokens"])

    def learn_row(self, calls: int, tokens: int) -> None:
        """An evaluated row cost `calls` uncached calls and `tokens` tokens: reserve at least that per row."""
        with self._lock:
            self.row_calls = max(self.row_calls, calls)
            self.row_tokens = max(self.row_tokens, tokens)

    def can_afford(self, calls: int, tokens: int = 0, cost: float = 0.0) -> bool:
        s = self.spec
        if s.calls is not None and self.spent + calls > s.calls:
            return False
        if s.tokens is not None and self.paid_tokens() + tokens > s.tokens:
            return False
        return not (s.cost is not None and float(super().totals()["cost"]) + cost > s.cost)

    def exhausted(self) -> bool:
        return not self.can_afford(1 if self.spec.calls is not None else 0, 1 if self.spec.tokens is not None else 0)

    def check(self) -> None:
        """Before a row: enough left for the rows that may be running at once, each as costly as the worst so far."""
        n = self.concurrency
        row_tokens = max(self.row_tokens, self.row_calls * self.tokens_per_call()) if self.spec.tokens else 0
        if not self.can_afford(self.row_calls * n, row_tokens * n):
            raise BudgetExhausted(f"the budget ({self.spec.describe()}) is spent: "
                                  f"{self.spent} calls, {self.paid_tokens()} tokens so far")

    def require(self, calls: int, tokens: int = 0) -> None:
        if not self.can_afford(calls, tokens):
            raise BudgetExhausted(f"the budget ({self.spec.describe()}) is spent: "
                                  f"{self.spent} calls, {self.paid_tokens()} tokens so far")


def make_budget(spec: BudgetSpec | int | None, before: dict[str, Any] | None, concurrency: int) -> Budget:
    if isinstance(spec, int) or spec is None:
        spec = BudgetSpec(calls=spec)
    if not spec.limited:
        return Budget(None, before=before)
    return LimitBudget(spec, before=before, concurrency=concurrency)
