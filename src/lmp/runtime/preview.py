"""Prompt previews: the exact messages a predictor would send, without calling a model.

The same renderer as the runtime (`PredictorRuntime.render` -> the adapter), so a preview cannot
drift from what `lmp run` sends; the same goes for the decoding constraint (the compiled grammar or
schema, how the model's server would get it, the derived max_tokens and what could not be
constrained). Used by `lmp preview` and the language server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from lmp.ir import nodes as ir
from lmp.ir.lower import constant
from lmp.ir.types import MediaType, strip_optional
from lmp.runtime.adapters.constraints import compile_constraint
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.lm.base import Message
from lmp.runtime.media import ImageError, as_image, redact_messages
from lmp.runtime.predictors import PredictorRuntime, constraint_mode, with_reasoning
from lmp.runtime.state import default_state_path
from lmp.runtime.token_count import TokenCounts, count_messages


@dataclass
class Preview:
    predictor_id: str
    signature: str
    adapter: str
    messages: list[Message]
    example: str | None = None
    state: str | None = None
    model: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    # {"kind", "server", "adapter", "hash", "grammar"|"schema", "notes", "max_tokens"}: see constraint_info.
    constraint: dict[str, Any] | None = None
    # ReAct only: {"protocol": "native" | "text", "definitions"?: [...], "reason"?: str} (tools_native.py).
    tools: dict[str, Any] | None = None
    # Inputs the module computes before calling the predictor (a retriever's passages): field -> how
    # (lmp.runtime.preview_flow); the messages show a placeholder there, nothing is run.
    filled_at_run_time: dict[str, str] = field(default_factory=dict)
    # Per-message and total token counts, exact or an estimate (lmp.runtime.token_count); None if not counted.
    tokens: TokenCounts | None = None

    def to_json(self) -> dict[str, Any]:
        return {"predictor": self.predictor_id, "signature": self.signature, "adapter": self.adapter,
                "messages": [dict(m) for m in self.messages], "example": self.example, "state": self.state,
                "model": self.model, "constraint": self.constraint, "tools": self.tools,
                "filled_at_run_time": self.filled_at_run_time,
                "tokens": self.tokens.to_json() if self.tokens is not None else None}

    def constraint_text(self) -> str:
        """The constraint as `lmp preview` prints it after the messages."""
        return format_constraint(self.constraint)


def find_predictor(program: ir.Program, target: str) -> tuple[ir.Predictor | None, ir.Signature]:
    """A predictor id (`Module.name`), a bare predictor name, or a signature name."""
    preds = program.predictors()
    if target in preds and preds[target].signature is not None:
        return preds[target], preds[target].signature  # type: ignore[return-value]
    by_name = [p for p in preds.values() if p.name == target and p.signature is not None]
    if len(by_name) == 1:
        return by_name[0], by_name[0].signature  # type: ignore[return-value]
    if len(by_name) > 1:
        raise LmpRuntimeError(f"`{target}` names several predictors ({', '.join(p.id for p in by_name)}); "
                              "give one as Module.name")
    if target in program.signatures:
        return None, program.signatures[target]
    known = sorted([*preds, *program.signatures])
    raise LmpRuntimeError(f"`{target}` is not a predictor or signature of {os.path.basename(program.path)}; "
                          f"choose one of: {', '.join(known) or '(none)'}")


def find_example(program: ir.Program, pred: ir.Predictor | None, sig: ir.Signature,
                 name: str | None) -> ir.Example | None:
    if name is not None:
        for ex in program.examples:
            if ex.name == name:
                return ex
        names = sorted({ex.name for ex in program.examples})
        raise LmpRuntimeError(f"no example named `{name}`; examples: {', '.join(names) or '(none)'}")
    targets = [sig.name]
    if pred is not None:
        targets = [pred.id, pred.name, *( [pred.signature_ref] if pred.signature_ref else []), sig.name, pred.owner]
    for t in targets:
        for ex in program.examples:
            if ex.target == t:
                return ex
    return None


def _runtime_predictor(program: ir.Program, pred: ir.Predictor | None, sig: ir.Signature,
                       state: Any) -> tuple[PredictorRuntime, str | None]:
    from lmp.runtime.interpreter import Interpreter

    state_path: str | None = None
    if state is None and program.path:
        state = default_state_path(program.path)
    if isinstance(state, str | os.PathLike):
        state_path = os.fspath(state)
    interp = Interpreter(program, state)
    if state is not None and state_path is None:
        state_path = "(in memory)"
    if pred is not None:  # find_predictor and the interpreter keep the same predictors (those with a signature)
        return interp.predictors[pred.id], state_path
    # A signature: what `lmp run FILE SIGNATURE` would send, the program's one predictor over it or a plain Predict.
    return interp.signature_call(sig.name)[1], state_path


def render_preview(program: ir.Program, target: str, example: str | None = None,
                   inputs: dict[str, Any] | None = None, state: Any = None,
                   count_tokens: float | None = None) -> Preview:
    """The preview of `target`'s first call; with `count_tokens` (seconds to wait for the model's tokenizer
    to load, the first time) its token counts too (the language server counts them itself, off its
    analysis thread)."""
    pred, sig = find_predictor(program, target)
    ex = find_example(program, pred, sig, example)
    values: dict[str, Any] = {}
    if ex is not None:
        for kv in ex.values:
            if sig.field(kv.name) is not None and sig.field(kv.name).role == "in":  # type: ignore[union-attr]
                try:
                    values[kv.name] = constant(kv.value)
                except ValueError:
                    continue
    filled: dict[str, str] = {}
    if pred is not None and ex is not None and ex.target == pred.owner:
        # A module's example: the inputs the module computes before the call are not the example's values
        # (without an example every input shows its `{name}` placeholder anyway).
        from lmp.runtime.preview_flow import placeholder, runtime_inputs

        filled, literals = runtime_inputs(program, pred)
        for name, how in filled.items():
            values[name] = placeholder(how)
        values.update(literals)
    values.update(inputs or {})
    filled = {k: v for k, v in filled.items() if k not in (inputs or {})}
    runtime, state_path = _runtime_predictor(program, pred, sig, state)
    shown = _media_inputs(sig, values)  # held until redacted: placeholders name the images it holds
    messages = redact_messages(runtime.render(shown))
    model, params = _model(program, runtime.role)
    constraint, tools = constraint_info(runtime, model, params), None
    if runtime.kind == "ReAct":
        from lmp.runtime.tools_native import preview_tools

        tools, native = preview_tools(runtime, model, params, values)
        if native is not None:  # the first call is the native one: no step fields, no constraint
            messages = native
            constraint = {**constraint, "kind": "none", "reason": "native tool calls are not constrained"}
            constraint.pop("grammar", None)
            constraint.pop("schema", None)
    pv = Preview(runtime.id, sig.name, runtime.adapter.name, messages, ex.name if ex is not None else None,
                 state_path, model, values, constraint, tools, filled)
    if count_tokens is not None:
        pv.tokens = count_messages(messages, model, wait=count_tokens, tools=tools)
    return pv


def _media_inputs(sig: ir.Signature, values: dict[str, Any]) -> dict[str, Any]:
    """Image inputs given as text (an example's path or URL) loaded as images, so the preview shows
    the placeholder the run would send; one that cannot be loaded is shown with the reason."""
    out = dict(values)
    for f in sig.inputs:
        if isinstance(strip_optional(f.type), MediaType) and isinstance(out.get(f.name), str):
            try:
                out[f.name] = as_image(out[f.name])
            except ImageError as exc:
                out[f.name] = f"<image: {out[f.name][:60]} (not loaded: {exc})>"
    return out


def _model(program: ir.Program, role: str | None) -> tuple[str | None, dict[str, Any]]:
    try:
        from lmp.runtime.settings import model_for

        return model_for(program, role)
    except Exception:  # noqa: BLE001 - a preview never fails because of model configuration
        return None, {}


def constraint_info(runtime: PredictorRuntime, model: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """The constraint the predictor's first call sends to `model`: decided by the same code as a run
    (the LM's `constraint_mode`), without starting a server or calling anything."""
    sig = runtime.effective_signature()
    mode, server, why = "none", None, None
    if model is not None:
        try:
            from lmp.runtime.lm.roles import make_lm

            lm = make_lm(model, {k: v for k, v in params.items() if k not in ("api_key",)})
            constraint = runtime.constraint(sig, max_tokens=runtime.user_max_tokens(lm))
            mode = constraint_mode(lm, constraint)
            kind_of = getattr(lm, "server_kind", None)
            server = kind_of() if callable(kind_of) else None
            own = getattr(lm, "params", None) or {}
        except Exception as exc:  # noqa: BLE001 - e.g. the local model is not installed: say why, do not fail
            why, own = f"model {model!r} cannot be built here ({exc})", {}
    else:
        own, why = {}, "no model is configured"
    if why is not None:  # no LM to ask: the constraint as the predictor's own options shape it
        constraint = runtime.constraint(sig, max_tokens=runtime.user_max_tokens(None))
    user_max = runtime.lm_params.get("max_tokens", own.get("max_tokens"))
    info: dict[str, Any] = {
        "kind": mode, "server": server, "adapter": constraint.adapter, "hash": constraint.digest(),
        "notes": list(constraint.notes),
        "max_tokens": user_max if user_max is not None else (constraint.budget if mode != "none"
                                                              else constraint.loose_budget),
        "max_tokens_derived": user_max is None,
    }
    if mode == "grammar":
        info["grammar"] = constraint.grammar
    elif mode == "json_schema":
        info["schema"] = constraint.schema
    elif why is not None:
        info["reason"] = why
    else:
        info["reason"] = (f"{model} takes no {constraint.adapter}-adapter constraint (set the model param "
                          "`constrain`, or `server` for a self-hosted server)")
    return info


def format_constraint(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    import json

    budget = f"max_tokens {info['max_tokens']}" + (" (derived from the output types)" if info.get("max_tokens_derived")
                                                   else "")
    server = f" for {info['server']}" if info.get("server") else ""
    lines = [f"──── constraint: {info['kind']}{server} · {budget} ────"]
    if info.get("grammar"):
        lines.append(info["grammar"].rstrip("\n"))
    elif info.get("schema") is not None:
        lines.append(json.dumps(info["schema"], indent=2, ensure_ascii=False))
    elif info.get("reason"):
        lines.append(f"(none sent: {info['reason']})")
    lines += [f"note: {n}" for n in info.get("notes") or []]
    return "\n".join(lines)


def output_schema(program: ir.Program, target: str) -> dict[str, Any]:
    """JSON Schema of the outputs as the JSON adapter sends it (ChainOfThought's and ReAct's answer
    start with `reasoning`; every key required, optionals nullable, objects closed)."""
    pred, sig = find_predictor(program, target)
    answered = with_reasoning(sig) if pred is not None and pred.kind in ("ChainOfThought", "ReAct") else sig
    schema = dict(compile_constraint("json", answered).schema or {})
    schema["title"] = sig.name
    return schema
