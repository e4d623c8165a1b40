"""Feedback metrics: what a metric returns beyond a score, read the same way for `.lmp` and Python metrics.

A metric returns one of:

- a score: `bool` (0/1) or a number;
- a record / dict / object with
  - `score` (the value optimizers maximize) and/or other numeric fields (objectives; without `score`
    the score is their mean),
  - `feedback: str` (why the answer is right or wrong; GEPA's reflection reads it),
  - per-predictor feedback: `predictor_feedback: {predictor_id: str}`, or fields `feedback_NAME`
    (NAME: the predictor's `let` name, or its id with `.` written `_`);
- a `(score, feedback)` tuple (Python only).

A Python metric taking a third parameter receives the program's trace (a list of
`lmp.runtime.trace.TraceEntry(predictor, inputs, outputs)`), so it can give feedback per predictor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmp.checker.metric_returns import FEEDBACK, FEEDBACK_PREFIX, PREDICTOR_FEEDBACK, SCORE
from lmp.runtime.errors import LmpRuntimeError


class MetricValueError(LmpRuntimeError):
    user_facing = True


@dataclass
class MetricResult:
    score: float
    feedback: str | None = None
    predictor_feedback: dict[str, str] = field(default_factory=dict)
    objectives: dict[str, float] = field(default_factory=dict)  # every named numeric field, `score` included

    def feedback_for(self, pid: str) -> str | None:
        """The feedback meant for predictor `pid` (its own, else the metric's general feedback)."""
        return self.predictor_feedback.get(pid) or self.feedback

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score}
        if self.feedback:
            out["feedback"] = self.feedback
        if self.predictor_feedback:
            out["predictor_feedback"] = dict(self.predictor_feedback)
        if self.objectives:
            out["objectives"] = dict(self.objectives)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricResult:
        return cls(float(data.get("score") or 0.0), data.get("feedback"), dict(data.get("predictor_feedback") or {}),
                   {k: float(v) for k, v in (data.get("objectives") or {}).items()})


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    raise MetricValueError(f"metric `{name}` returned {key}={value!r}; a score is a finite number or a bool")


def _fields(value: Any) -> dict[str, Any] | None:
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)  # lmp records and predictions
    if callable(dump):
        try:
            data = dump()
        except Exception:  # noqa: BLE001 - not a record after all
            data = None
        if isinstance(data, dict):
            return data
    if hasattr(value, "__dict__") and (hasattr(value, SCORE) or hasattr(value, FEEDBACK)):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return None


def interpret(value: Any, name: str, predictor_ids: list[str] | None = None) -> MetricResult:
    """A metric's return value as a MetricResult; a clear error naming the metric when it is none of the forms."""
    if isinstance(value, bool | int | float) and not isinstance(value, str):
        return MetricResult(_number(name, "score", value))
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str | type(None)):
        return MetricResult(_number(name, "score", value[0]), value[1] or None)
    data = _fields(value)
    if data is None:
        raise MetricValueError(f"metric `{name}` returned {type(value).__name__}; it must return a bool, a number, "
                               "or a record/dict with `score` (and optionally `feedback`)")
    feedback = data.get(FEEDBACK)
    if feedback is not None and not isinstance(feedback, str):
        raise MetricValueError(f"metric `{name}` returned feedback of type {type(feedback).__name__}; it must be text")
    per: dict[str, str] = {}
    raw = data.get(PREDICTOR_FEEDBACK)
    if raw is not None:
        if not isinstance(raw, Mapping) or not all(isinstance(v, str | type(None)) for v in raw.values()):
            raise MetricValueError(f"metric `{name}`: `{PREDICTOR_FEEDBACK}` must map predictor ids to text")
        per.update({str(k): v for k, v in raw.items() if v})
    objectives: dict[str, float] = {}
    for key, v in data.items():
        if key in (FEEDBACK, PREDICTOR_FEEDBACK):
            continue
        if key.startswith(FEEDBACK_PREFIX):
            if v:
                per[_predictor_id(key[len(FEEDBACK_PREFIX):], predictor_ids or [])] = str(v)
            continue
        if v is None:
            continue
        objectives[key] = _number(name, key, v)
    if not objectives:
        raise MetricValueError(f"metric `{name}` returned no score (a `score` field or another numeric field)")
    score = objectives[SCORE] if SCORE in objectives else sum(objectives.values()) / len(objectives)
    return MetricResult(score, feedback or None, per, objectives if len(objectives) > 1 or SCORE not in objectives
                        else {})


def _predictor_id(name: str, pids: list[str]) -> str:
    """`feedback_answer` -> the predictor whose `let` name is `answer` (or whose id, `.` as `_`, matches)."""
    for pid in pids:
        if pid.replace(".", "_") == name or pid.rsplit(".", 1)[-1] == name:
            return pid
    return name
