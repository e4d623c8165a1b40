"""Multi-objective selection: a weighted sum over accuracy, tokens, latency and a metric's own objectives.

`--objective accuracy=1,prompt_tokens=-0.001` (or `--set objective=...` for gepa and mipro) makes the
optimizers pick the candidate with the highest

    sum(weight[k] * value[k])

where `accuracy` is the metric's mean score, `prompt_tokens` / `completion_tokens` the mean tokens per
dev row of the program's own predictors (judge calls excluded), `latency` the mean seconds of model time
per row, and any other name a numeric field of a feedback metric's record (its mean over rows, e.g.
`brevity`). Without an objective the value is the accuracy.

Token and latency means are measured on the rows a candidate actually ran (cache hits included: a
cached response keeps its tokens and the latency it had), so they do not depend on the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lmp.runtime.errors import LmpRuntimeError

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "latency")
ACCURACY = "accuracy"


class ObjectiveError(LmpRuntimeError):
    user_facing = True


@dataclass
class Usage:
    """Model usage of the program's predictors over `rows` rows."""

    rows: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    def add(self, other: Usage) -> Usage:
        return Usage(self.rows + other.rows, self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens, self.latency_s + other.latency_s)

    def per_row(self) -> dict[str, float]:
        n = max(self.rows, 1)
        return {"prompt_tokens": self.prompt_tokens / n, "completion_tokens": self.completion_tokens / n,
                "latency": self.latency_s / n}

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "latency_s": round(self.latency_s, 6)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}
        return cls(int(data.get("rows", 0)), int(data.get("prompt_tokens", 0)), int(data.get("completion_tokens", 0)),
                   float(data.get("latency_s", 0.0)))


def usage_of(records: list[Any], predictor_ids: list[str] | set[str], rows: int) -> Usage:
    """Usage of the calls made by the tuned predictors (a judge metric's calls are not the program's cost)."""
    ids = set(predictor_ids)
    mine = [r for r in records if getattr(r, "predictor", None) in ids and not getattr(r, "error", None)]
    return Usage(rows, sum(r.prompt_tokens for r in mine), sum(r.completion_tokens for r in mine),
                 sum(float(r.latency_s or 0.0) for r in mine))


@dataclass
class Objective:
    weights: dict[str, float] = field(default_factory=lambda: {ACCURACY: 1.0})

    @property
    def is_default(self) -> bool:
        return self.weights == {ACCURACY: 1.0}

    def needs_usage(self) -> bool:
        return any(k in USAGE_KEYS for k in self.weights)

    def value(self, accuracy: float, usage: Usage | None = None, metric_objectives: dict[str, float] | None = None
              ) -> float:
        values: dict[str, float] = {ACCURACY: accuracy, **(usage.per_row() if usage else {}),
                                    **(metric_objectives or {})}
        total = 0.0
        for key, w in self.weights.items():
            if key not in values:
                raise ObjectiveError(f"objective `{key}` has no value: the metric's records have no field `{key}` "
                                     f"(objectives: {ACCURACY}, {', '.join(USAGE_KEYS)} or a numeric field of a "
                                     "feedback metric)")
            total += w * values[key]
        return total

    def describe(self) -> str:
        return ",".join(f"{k}={w:g}" for k, w in self.weights.items())


def parse_objective(spec: str | dict[str, Any] | None) -> Objective:
    """`accuracy=1,prompt_tokens=-0.001` (or a dict) -> Objective; None -> accuracy only."""
    if spec is None or spec == "":
        return Objective()
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        items = []
        for part in str(spec).split(","):
            key, sep, value = part.strip().partition("=")
            if not sep or not key.strip():
                raise ObjectiveError(f"--objective expects NAME=WEIGHT[,NAME=WEIGHT...], got {part.strip()!r}")
            items.append((key.strip(), value.strip()))
    weights: dict[str, float] = {}
    for key, value in items:
        try:
            weights[str(key)] = float(value)
        except (TypeError, ValueError):
            raise ObjectiveError(f"objective weight for `{key}` is not a number: {value!r}") from None
    if not weights:
        raise ObjectiveError("--objective names no objective")
    return Objective(weights)


def metric_means(rows: list[Any]) -> dict[str, float]:
    """Mean of each named objective a feedback metric returned over `rows` (RowResult-like, `.feedback`)."""
    sums: dict[str, float] = {}
    for r in rows:
        fb = getattr(r, "feedback", None)
        for k, v in (fb.objectives if fb is not None else {}).items():
            sums[k] = sums.get(k, 0.0) + v
    n = max(len(rows), 1)
    return {k: v / n for k, v in sums.items()}


class Meter:
    """Measures candidates for an Objective: usage per candidate accumulated over its evaluations (a row
    served from the memo made no call now, but the candidate's earlier rows tell its cost per row)."""

    def __init__(self, objective: Objective, predictor_ids: list[str]) -> None:
        self.objective = objective
        self.pids = list(predictor_ids)
        self.usage: dict[str, Usage] = {}

    def start(self, history: Any, memo: dict[tuple[str, str], Any], fp: str, rows: list[Any]) -> tuple[int, int]:
        """Call before an evaluation: (history length, rows that will call the model)."""
        return len(history), sum(1 for ex in rows if (fp, ex.key) not in memo)

    def finish(self, history: Any, fp: str, mark: tuple[int, int], results: list[Any], accuracy: float) -> float:
        """After the evaluation: the objective value of candidate `fp`."""
        start, fresh = mark
        recs = history.records()[start:]
        if fresh and recs:
            self.usage[fp] = self.usage.get(fp, Usage()).add(usage_of(recs, self.pids, fresh))
        usage = self.usage.get(fp)
        return self.objective.value(accuracy, usage if usage is not None and usage.rows else Usage(),
                                    metric_means(results))
