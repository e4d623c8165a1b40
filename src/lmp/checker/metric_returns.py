"""What a metric may return: a score (`bool`, `int`, `float`) or a feedback record.

A feedback record (`-> (score: float, feedback: str)`) has one or more numeric fields (the scores;
several are objectives, `score` is the one optimizers maximize, else their mean), an optional
`feedback: str` (why the answer was right or wrong, read by GEPA's reflection step) and feedback for
one predictor: `feedback_NAME: str` (NAME: the predictor's `let` name or id with `_` for `.`) or
`predictor_feedback: dict[str, str]` keyed by predictor id. The optimizer side reads the same names
(`lmp.optimize.feedback`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lmp.ir.types import BOOL, FLOAT, INT, STR, DictType, OptionalType, RecordType, Type, is_assignable

FEEDBACK = "feedback"
PREDICTOR_FEEDBACK = "predictor_feedback"
FEEDBACK_PREFIX = "feedback_"
SCORE = "score"
RECORD_HINT = "a feedback metric returns e.g. `-> (score: float, feedback: str)`; other numeric fields are objectives"


@dataclass(frozen=True)
class Problem:
    """Something wrong with a metric's declared return type."""

    code: str
    message: str
    field: str | None = None  # the record field it is about (None: the whole type)
    hint: str | None = None


def is_score_type(t: Type) -> bool:
    return t in (BOOL, INT, FLOAT) or is_assignable(t, FLOAT)


def field_problem(name: str, t: Type) -> str | None:
    """Why field `name` of type `t` cannot be in a metric's record (None: it can)."""
    inner = t.inner if isinstance(t, OptionalType) else t
    if name == FEEDBACK or name.startswith(FEEDBACK_PREFIX):
        return None if inner == STR else f"`{name}` is feedback text: `str`, not `{t.render()}`"
    if name == PREDICTOR_FEEDBACK:
        ok = isinstance(inner, DictType) and inner.key == STR and inner.value == STR
        return None if ok else (f"`{PREDICTOR_FEEDBACK}` maps predictor ids to feedback: `dict[str, str]`, "
                                f"not `{t.render()}`")
    if isinstance(t, OptionalType) or not is_score_type(t):
        return f"score field `{name}` must be `float`, `int` or `bool`, not `{t.render()}`"
    return None


def is_score_field(name: str) -> bool:
    return name not in (FEEDBACK, PREDICTOR_FEEDBACK) and not name.startswith(FEEDBACK_PREFIX)


def return_type_problems(t: Type) -> list[Problem]:
    """Problems with a metric's declared return type (empty: it is a score or a valid feedback record)."""
    if is_score_type(t):
        return []
    if not isinstance(t, RecordType):
        return [Problem("E130", f"a metric returns `bool`, `float` or a feedback record, not `{t.render()}`",
                        hint=RECORD_HINT)]
    out = [Problem("E131", msg, f.name, RECORD_HINT) for f in t.fields if (msg := field_problem(f.name, f.type))]
    if not any(is_score_field(f.name) for f in t.fields):
        out.append(Problem("E131", "a feedback metric's record needs a score field (`score: float`)",
                           hint=RECORD_HINT))
    return out


def missing_fields(returned: RecordType, declared: RecordType) -> list[str]:
    """Declared, non-optional fields the returned record lacks."""
    return [f.name for f in declared.fields if returned.field(f.name) is None and not isinstance(f.type, OptionalType)]
