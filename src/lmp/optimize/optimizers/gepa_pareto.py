"""GEPA's candidate pool: the Pareto frontier over dev instances (and objectives), parent sampling by wins.

A candidate is on the frontier when no other candidate is at least as good on every dev row and every
objective and better on one. Each dev row (and each weighted objective) has a set of best candidates;
a frontier candidate's weight is the number of those sets it belongs to, so a candidate that is the
only one to solve some rows keeps being explored even when its mean is lower.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PoolEntry:
    id: int
    candidate: dict[str, Any]  # predictor id -> PredictorState
    scores: list[float]  # per dev row, in dev order
    value: float  # what selection maximizes (accuracy, or the weighted objective)
    objectives: dict[str, float] = field(default_factory=dict)  # weighted objective terms (higher is better)
    parents: list[int] = field(default_factory=list)
    origin: str = "seed"  # seed | reflect | merge
    predictor: str | None = None  # the predictor whose instructions changed (reflect)
    feedback: list[str] = field(default_factory=list)  # the feedback the reflection read
    minibatch: dict[str, float] | None = None  # parent and child minibatch scores that led to acceptance
    iteration: int = 0
    metric_objectives: dict[str, float] = field(default_factory=dict)  # a feedback metric's named means

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0


def _dominates(a: PoolEntry, b: PoolEntry) -> bool:
    # An objective term one of them has not measured yet (no usage) is compared by neither.
    pairs = list(zip(a.scores, b.scores, strict=False)) + [(a.objectives[k], b.objectives[k])
                                                          for k in a.objectives if k in b.objectives]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def frontier_wins(pool: list[PoolEntry]) -> dict[int, int]:
    """Non-dominated candidate id -> how many rows/objectives it is best on (0 when dominated or never best)."""
    alive = [p for p in pool if not any(_dominates(q, p) for q in pool if q is not p)]
    wins = {p.id: 0 for p in alive}
    n = max((len(p.scores) for p in pool), default=0)
    for j in range(n):
        best = max(p.scores[j] for p in pool if j < len(p.scores))
        for p in alive:
            if j < len(p.scores) and p.scores[j] == best:
                wins[p.id] += 1
    for key in {k for p in pool for k in p.objectives}:
        best = max(p.objectives.get(key, float("-inf")) for p in pool)
        for p in alive:
            if p.objectives.get(key, float("-inf")) == best:
                wins[p.id] += 1
    return {k: v for k, v in wins.items() if v > 0}


def sample_parent(pool: list[PoolEntry], rng: random.Random) -> PoolEntry:
    wins = frontier_wins(pool)
    if not wins:
        return max(pool, key=lambda p: (p.value, -p.id))
    ids = sorted(wins)
    chosen = rng.choices(ids, weights=[wins[i] for i in ids], k=1)[0]
    return next(p for p in pool if p.id == chosen)


def ancestors(pool: list[PoolEntry], pid: int) -> set[int]:
    by_id = {p.id: p for p in pool}
    out: set[int] = set()
    todo = list(by_id[pid].parents)
    while todo:
        x = todo.pop()
        if x not in out:
            out.add(x)
            todo += by_id[x].parents
    return out


def best_entry(pool: list[PoolEntry]) -> PoolEntry:
    """Highest value; ties go to the earlier (shorter lineage) candidate."""
    return max(pool, key=lambda p: (p.value, -p.id))
