"""Metrics: built-ins and metrics declared in the `.lmp` file.

A metric scores one prediction against one example: `metric(example, pred) -> float` in [0, 1]
(bool counts as 0/1). Spec strings on the command line:

- `exact_match`, `normalized_match` (`em`/`nem`), `f1`, `contains`, `numeric` — compare every gold
  output field the row has (mean over fields); `NAME:FIELD` compares one field only;
  `numeric[:FIELD]@TOL` sets the absolute tolerance (default 1e-6).
- any `metric NAME(example, pred)` of the program, run by the interpreter — including LM-as-judge
  metrics whose predictors run on another model role (`using judge`). `example` has the inputs and the
  gold outputs as fields, `pred` the module's outputs. A metric may return feedback with its score
  (`-> (score: float, feedback: str)`; see `lmp.optimize.feedback` for the Python protocol).
"""

from __future__ import annotations

import inspect
import json
import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lmp.optimize.data import Example
from lmp.optimize.feedback import MetricResult, interpret
from lmp.runtime.errors import LmpRuntimeError


class MetricError(LmpRuntimeError):
    user_facing = True


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def normalize(text: str) -> str:
    """SQuAD-style: lowercase, drop punctuation and articles, squeeze whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(gold: Any, pred: Any) -> float:
    if isinstance(gold, str) or isinstance(pred, str):
        return float(_text(gold).strip() == _text(pred).strip())
    return float(_text(gold) == _text(pred))


def normalized_match(gold: Any, pred: Any) -> float:
    return float(normalize(_text(gold)) == normalize(_text(pred)))


def token_f1(gold: Any, pred: Any) -> float:
    g, p = normalize(_text(gold)).split(), normalize(_text(pred)).split()
    if not g or not p:
        return float(g == p)
    common = Counter(g) & Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def contains(gold: Any, pred: Any) -> float:
    g = normalize(_text(gold))
    return float(bool(g) and g in normalize(_text(pred)))


_NUM = re.compile(r"-?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    m = _NUM.findall(_text(v))
    if not m:
        return None
    try:
        return float(m[-1].replace(",", ""))
    except ValueError:
        return None


def numeric(gold: Any, pred: Any, tol: float = 1e-6) -> float:
    g, p = _number(gold), _number(pred)
    return float(g is not None and p is not None and abs(g - p) <= tol)


BUILTINS: dict[str, Callable[..., float]] = {
    "exact_match": exact_match,
    "em": exact_match,
    "normalized_match": normalized_match,
    "normalized_exact_match": normalized_match,
    "nem": normalized_match,
    "f1": token_f1,
    "token_f1": token_f1,
    "contains": contains,
    "numeric": numeric,
}


@dataclass
class Metric:
    """`metric(example, pred_outputs) -> float`; `name` is what state files and reports show.

    `fn` may also return feedback (a record/dict with `score` and `feedback`, see `lmp.optimize.feedback`)
    and may take a third parameter, the program's trace. `__call__` is the score; `result` has it all."""

    name: str
    fn: Callable[..., Any]
    needs_gold: bool = True
    program_metric: bool = False
    predictor_ids: list[str] = field(default_factory=list)  # for `feedback_NAME` fields

    def __call__(self, example: Example, pred: dict[str, Any]) -> float:
        return self.result(example, pred).score

    def result(self, example: Example, pred: dict[str, Any], trace: list[Any] | None = None) -> MetricResult:
        value = self.fn(example, pred, list(trace or [])) if _takes_trace(self.fn) else self.fn(example, pred)
        return interpret(value, self.name, self.predictor_ids)


def _takes_trace(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                 inspect.Parameter.POSITIONAL_OR_KEYWORD)]) >= 3


def builtin_metric(spec: str) -> Metric:
    base, _, tol_s = spec.partition("@")
    name, _, field_name = base.partition(":")
    if name not in BUILTINS:
        raise MetricError(f"unknown metric `{name}`; built-ins: {', '.join(sorted(BUILTINS))}")
    fn = BUILTINS[name]
    tol = float(tol_s) if tol_s else None

    def score(example: Example, pred: dict[str, Any]) -> float:
        fields = [field_name] if field_name else list(example.gold)
        if not fields:
            raise MetricError(f"{example.where}: no gold output to compare ({name} needs gold fields)")
        total = 0.0
        for f in fields:
            if f not in example.gold:
                raise MetricError(f"{example.where}: no gold `{f}` for metric {spec}")
            got = pred.get(f)
            total += fn(example.gold[f], got, tol) if (tol is not None and name == "numeric") else fn(example.gold[f], got)
        return total / len(fields)

    return Metric(spec, score)


def program_metric(handle: Any, name: str) -> Metric:
    from lmp.runtime import trace
    from lmp.runtime.values import Prediction, Record

    def score(example: Example, pred: dict[str, Any]) -> Any:
        # Judge predictors are not part of the program being optimized: keep them out of its trace.
        with trace.suspended():
            return handle.interpreter.run_metric(name, Record(example.record()), Prediction(dict(pred)))

    return Metric(name, score, needs_gold=False, program_metric=True,
                  predictor_ids=list(handle.program.predictors()))


def resolve_metric(spec: str, handle: Any = None) -> Metric:
    """A metric declared in the program (by name) or a built-in spec."""
    program = getattr(handle, "program", None)
    if program is not None and spec in program.metrics:
        return program_metric(handle, spec)
    try:
        return builtin_metric(spec)
    except MetricError:
        declared = sorted(program.metrics) if program is not None else []
        raise MetricError(f"unknown metric `{spec}`: not declared in the program"
                          + (f" (its metrics: {', '.join(declared)})" if declared else "")
                          + f" and not a built-in ({', '.join(sorted(BUILTINS))}; NAME:FIELD picks a field, "
                          "numeric@TOL a tolerance)") from None
