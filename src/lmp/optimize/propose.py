"""Instruction proposals by the prompt model (COPRO, MIPRO).

The proposer is itself an lmp predictor (signature below, chat adapter, same parsing and repair
ladder), run on the prompt model; every proposal call has its own rollout id so candidates differ
and reruns hit the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import STR
from lmp.optimize.data import Example
from lmp.optimize.proposal_check import Verdict, check_instruction
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.lm.base import LM
from lmp.runtime.predictors import PredictorRuntime

PROPOSE = Signature(
    "ProposeInstruction",
    inputs=[
        Field("task", STR, "the step of the program the instruction is for: its input and output fields", "in"),
        Field("current_instruction", STR, "the instruction it has now", "in"),
        Field("examples", STR, "input/output examples of the task", "in"),
        Field("previous_attempts", STR, "instructions tried so far with their scores (higher is better)", "in"),
        Field("tip", STR, "a hint for this proposal", "in"),
    ],
    outputs=[Field("proposed_instruction", STR, "the new instruction, one paragraph, no preamble", "out")],
    instructions=("You write instructions for one step of a language-model program. Propose a clear instruction "
                  "that makes the model produce correct outputs for inputs like the examples. Learn from the "
                  "previous attempts and their scores."),
)

TIPS = [
    "Keep it short and direct.",
    "Be specific about the exact form of each output.",
    "Explain what matters most for getting the output right.",
    "Describe the task as an expert would, then state the rules.",
    "Mention common mistakes to avoid.",
    "Use a persona that fits the task.",
    "Stress that the answer must be accurate; the stakes are high.",
    "Give a step-by-step procedure.",
    "Be creative: reframe the task in a new way.",
    "Write it as a checklist in one paragraph.",
]


class _Host:
    def __init__(self, lm: LM) -> None:
        self.lm = lm

    def lm_for(self, role: str | None) -> LM:
        return self.lm

    def tool_specs(self, names: list[str]) -> list[Any]:
        return []

    def call_metric(self, name: str, example: Any, pred: Any) -> float:
        raise LmpRuntimeError("the proposer has no metrics")


def describe_task(signature: Signature) -> str:
    ins = ", ".join(f"{f.name}: {f.type.render()}" for f in signature.inputs)
    outs = ", ".join(f"{f.name}: {f.type.render()}" for f in signature.outputs)
    return f"inputs ({ins}) -> outputs ({outs})"


def format_examples(demos: list[dict[str, Any]], limit: int = 3, width: int = 400) -> str:
    lines = []
    for d in demos[:limit]:
        text = json.dumps({"inputs": d.get("inputs"), "outputs": d.get("outputs")}, ensure_ascii=False, default=str)
        lines.append(text if len(text) <= width else text[:width] + "…")
    return "\n".join(lines) or "(none)"


def demos_from(examples: list[Example], signature: Signature) -> list[dict[str, Any]]:
    from lmp.optimize.runner import labeled_demo

    return [d for ex in examples if (d := labeled_demo(signature, ex)) is not None]


def propose(lm: LM, signature: Signature, current: str, *, n: int, examples: list[dict[str, Any]],
            attempts: list[tuple[str, float]] | None = None, temperature: float = 1.0, seed: int = 0,
            round_: int = 0, pid: str = "", retries: int = 2, log: list[dict[str, Any]] | None = None,
            stop: Callable[[], bool] | None = None, max_chars: int | None = None) -> list[str]:
    """Up to n distinct new instructions. A proposal that fails to parse, or that `check_instruction`
    rejects (empty, code, a schema, markup, an echo of the examples, far too long), is asked for again with
    a new rollout id, at most `retries` more times per slot, and never once `stop()` says the budget is
    spent. `log` receives one entry per answer: {predictor, text, ok, reason, detail}."""
    pr = PredictorRuntime("lmp.optimize.propose", "Predict", PROPOSE, options={"temperature": temperature},
                          host=_Host(lm))
    shown = "\n".join(f"{score:.3f}: {instr}" for instr, score in sorted(attempts or [], key=lambda a: a[1]))
    seen_inputs = [d.get("inputs") for d in examples]
    out: list[str] = []
    for i in range(n):
        inputs = {"task": describe_task(signature), "current_instruction": current,
                  "examples": format_examples(examples), "previous_attempts": shown or "(none yet)",
                  "tip": f"Proposal {i + 1} of {n}. {TIPS[(i + round_ * n) % len(TIPS)]}"}
        for attempt in range(retries + 1):
            if stop is not None and stop():
                return out
            # The first attempt keeps the rollout id it always had, so caches of earlier runs still hit.
            rid = f"{pid}:{seed}:{round_}:{i}" + (f":retry{attempt}" if attempt else "")
            try:
                result = pr.predict(PROPOSE, inputs, PROPOSE.instructions, [], rollout_id=rid)
            except Exception as exc:  # noqa: BLE001 - one bad proposal is asked again, not fatal
                if log is not None:
                    log.append({"predictor": pid, "text": "", "ok": False, "reason": "unparsed",
                                "detail": f"{type(exc).__name__}"})
                continue
            text = " ".join(str(result.get("proposed_instruction", "")).split()).strip().strip('"').strip()
            verdict = check_instruction(text, current=current, shown=seen_inputs, max_chars=max_chars)
            if verdict.ok and text in out:
                verdict = Verdict(False, "same", "a duplicate of an earlier proposal")
            if log is not None:
                log.append({"predictor": pid, "text": text[:400], "ok": verdict.ok, "reason": verdict.reason,
                            "detail": verdict.detail})
            if verdict.ok:
                out.append(text)
                break
    return out
