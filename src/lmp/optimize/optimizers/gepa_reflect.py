"""GEPA's reflection step: a model reads one predictor's inputs, outputs and the metric's feedback on a
minibatch and writes a new instruction for that predictor.

The reflector is an lmp predictor (`ReflectInstruction`, chat adapter) on the `reflect` model role when
the program declares it (or `--model reflect=ID`), else on `--prompt-model`, else on the task model
(with a note: reflecting with the model being tuned works, a stronger one works better).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import STR
from lmp.optimize.context import OptimizeContext, resolve_lm
from lmp.optimize.propose import _Host, describe_task
from lmp.runtime import settings
from lmp.runtime.lm.base import LM
from lmp.runtime.predictors import PredictorRuntime

REFLECT = Signature(
    "ReflectInstruction",
    inputs=[
        Field("task", STR, "the step of the program: its input and output fields", "in"),
        Field("current_instruction", STR, "the instruction the step has now", "in"),
        Field("examples_with_feedback", STR, "inputs the step received, what it answered, and feedback on the "
              "final result", "in"),
    ],
    outputs=[Field("new_instruction", STR, "the improved instruction for the step, complete and self-contained",
                   "out")],
    instructions=("You improve the instruction of one step of a language-model program. Read the examples: what "
                  "the step was given, what it answered, and the feedback on each answer. Work out what the "
                  "feedback says the step got wrong and which facts, rules or formats it was missing. Write a new "
                  "instruction for the step that keeps what already works and states those facts and rules "
                  "explicitly, so that the step gets such inputs right. Reply with the instruction only."),
)

ROLE = "reflect"
REFLECT_PREDICTOR = "lmp.optimize.reflect"  # the predictor id its calls carry in the History
MAX_FIELD = 600


@dataclass
class ReflectionRecord:
    """One minibatch row as the reflector sees it, for one predictor."""

    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    feedback: str
    score: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "outputs": self.outputs, "feedback": self.feedback, "score": self.score,
                "error": self.error}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReflectionRecord:
        return cls(d.get("inputs") or {}, d.get("outputs"), d.get("feedback") or "", float(d.get("score") or 0.0),
                   d.get("error"))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD] + "…"


def format_records(records: list[ReflectionRecord]) -> str:
    parts = []
    for i, r in enumerate(records, 1):
        answered = f"Error: {_short(r.error)}" if r.error else f"Answered: {_short(r.outputs)}"
        parts.append(f"### Example {i}\nInputs: {_short(r.inputs)}\n{answered}\nScore: {r.score:g}\n"
                     f"Feedback: {_short(r.feedback)}")
    return "\n\n".join(parts)


def reflect_role(program: Any) -> str | None:
    """`reflect` when the program or the command line declares that role, else None."""
    cur = settings.current()
    declared = ROLE in (getattr(program, "models", {}) or {}) or ROLE in cur.lms or ROLE in cur.overrides()
    return ROLE if declared else None


def reflection_lm(program: Any, ctx: OptimizeContext) -> tuple[LM, str]:
    """The model that reflects, and a note saying which one and why."""
    if reflect_role(program):
        lm = settings.lm_for(program, ROLE)
        return lm, f"reflection on the `reflect` role ({getattr(lm, 'model', '?')})"
    if ctx.prompt_model is not None:
        lm = resolve_lm(program, ctx.prompt_model)
        return lm, (f"no `reflect` model role declared: reflection on the prompt model "
                    f"({getattr(lm, 'model', ctx.prompt_model)})")
    lm = resolve_lm(program, None)
    return lm, (f"no `reflect` model role declared and no --prompt-model: reflection on the task model "
                f"({getattr(lm, 'model', '?')}); declare `model reflect = \"...\"` for a stronger reflector")


def reflect(lm: LM, signature: Signature, current: str, records: list[ReflectionRecord], *,
            rollout_id: str) -> str:
    """The new instruction ('' when the reflector's answer is unusable)."""
    pr = PredictorRuntime(REFLECT_PREDICTOR, "Predict", REFLECT, options={"temperature": 1.0}, host=_Host(lm))
    inputs = {"task": describe_task(signature), "current_instruction": current,
              "examples_with_feedback": format_records(records)}
    result = pr.predict(REFLECT, inputs, REFLECT.instructions, [], rollout_id=rollout_id)
    return " ".join(str(result.get("new_instruction", "")).split()).strip().strip('"').strip()
