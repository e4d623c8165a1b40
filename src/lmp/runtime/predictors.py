"""Predictors: one learnable LM call pattern each, over a signature.

- `Predict`: render with the adapter, call the model, parse into typed outputs.
- `ChainOfThought`: the same with a `reasoning: str` output first.
- `ReAct`: a thought/tool/observation loop (at most `max_iters` steps, a `finish` tool), then an
  extraction call that answers from the trajectory.
- `BestOfN` / `Refine`: N attempts with distinct rollout ids scored by a reward metric of the
  program; stop at `threshold`. Refine also tells the next attempt why the previous one fell short.

Decoding: each call carries the constraint compiled from the output types (adapters/constraints.py)
when the model's server takes one, and `max_tokens` derived from the same types unless the user set
it. Parse failures: constrained, one unconstrained repair (2 calls at most); unconstrained, a repair
then the JSON adapter (3 calls); then `LMOutputError`, or `LMTruncatedError` when the answer was cut
off by max_tokens. What optimizers change is `instructions` and `demos` (see runtime/state.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import ANY, STR, DictType, LiteralType
from lmp.runtime import streaming
from lmp.runtime.adapters import ChatAdapter, JSONAdapter, get_adapter
from lmp.runtime.adapters.base import repair_message
from lmp.runtime.adapters.chat import COMPLETED, HEADER
from lmp.runtime.adapters.constraints import compile_constraint, tool_arg_types
from lmp.runtime.errors import AdapterParseError, LMOutputError, LmpRuntimeError, LMTruncatedError
from lmp.runtime.lm.base import LM, Message
from lmp.runtime.lm.constrain import Constraint
from lmp.runtime.media import require_vision
from lmp.runtime.values import Prediction, Record, to_plain

REASONING = Field("reasoning", STR, "think step by step before answering", "out")
# Options read by predictors themselves; any other option is a model parameter (temperature, ...).
PREDICTOR_OPTIONS = {"tools", "max_iters", "N", "n", "reward", "threshold", "adapter"}


class Host(Protocol):
    """What a predictor needs from the interpreter that owns it."""

    def lm_for(self, role: str | None) -> LM: ...

    def tool_specs(self, names: list[str]) -> list[ToolSpec]: ...

    def call_metric(self, name: str, example: Record, pred: Prediction) -> float: ...


@dataclass
class ToolSpec:
    """A callable offered to ReAct: a declared tool, a retriever or a module."""

    name: str
    description: str
    params: list[tuple[str, str]]  # (name, type)
    call: Callable[[dict[str, Any]], Any]
    optional: frozenset[str] = frozenset()  # parameters with a default
    schema: dict[str, Any] | None = None  # JSON Schema of the arguments when the tool brings its own (MCP)

    def render(self) -> str:
        args = ", ".join(f"{n}: {t}" for n, t in self.params)
        return f"`{self.name}({args})`" + (f": {self.description}" if self.description else "")


def with_reasoning(sig: Signature) -> Signature:
    if sig.field("reasoning") is not None:
        return sig
    return Signature(sig.name, list(sig.inputs), [REASONING, *sig.outputs], sig.instructions, sig.inline)


def labeled_signature(kind: str, sig: Signature) -> Signature:
    """The fields a labeled demo (a dataset row) may fill for a predictor of `kind`: ChainOfThought's
    include `reasoning` (a row's hand-written rationale); ReAct's step fields are never in a dataset,
    so its declared ones."""
    return with_reasoning(sig) if kind == "ChainOfThought" else sig


@dataclass
class PredictorRuntime:
    """The run-time side of a `let` predictor; `instructions` and `demos` are what state files set."""

    id: str
    kind: str
    signature: Signature
    role: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    instructions: str | None = None  # None: the signature's own
    demos: list[dict[str, Any]] = field(default_factory=list)
    host: Host | None = None

    # -------------------------------------------------------------- shape

    @property
    def lm_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if k not in PREDICTOR_OPTIONS}

    @property
    def adapter(self) -> ChatAdapter | JSONAdapter:
        return get_adapter(str(self.options.get("adapter", "chat")))

    def effective_signature(self) -> Signature:
        """The signature the adapter sees for the main call (CoT adds `reasoning`)."""
        if self.kind == "ChainOfThought":
            return with_reasoning(self.signature)
        if self.kind == "ReAct":
            return react_step_signature(self.signature, self._offered_names())
        return self.signature

    def effective_instructions(self) -> str:
        base = self.instructions if self.instructions is not None else self.signature.effective_instructions()
        if self.kind == "ReAct":
            return react_instructions(base, self._tool_lines())
        return base

    def render(self, inputs: dict[str, Any], adapter: ChatAdapter | JSONAdapter | None = None) -> list[Message]:
        """The exact messages of the first call for these inputs (used by preview too)."""
        sig = self.effective_signature()
        if self.kind == "ReAct":
            inputs = {**inputs, "trajectory": inputs.get("trajectory", "(nothing yet)")}
        return (adapter or self.adapter).render(sig, inputs, self.demos, self.effective_instructions())

    # -------------------------------------------------------------- calling

    def __call__(self, inputs: dict[str, Any]) -> Prediction:
        if self.kind == "ReAct":
            return self._react(inputs)
        if self.kind in ("BestOfN", "Refine"):
            return self._best_of_n(inputs, refine=self.kind == "Refine")
        sig = self.effective_signature()
        return Prediction(self.predict(sig, inputs, self.effective_instructions(), self.demos))

    def _host(self) -> Host:
        if self.host is None:
            raise LmpRuntimeError(f"predictor `{self.id}` is not attached to a program; load it with lmp.load(...)")
        return self.host

    def constraint(self, sig: Signature, adapter: ChatAdapter | JSONAdapter | None = None,
                   max_tokens: int | None = None) -> Constraint:
        """The decoding constraint compiled from `sig`'s output types for the adapter (cached); a ReAct
        step's also ties `next_tool_args` to the arguments of the chosen tool. A user-set `max_tokens`
        shrinks the free-text bounds so that the whole answer fits."""
        tools = self._tool_arg_types() if self.kind == "ReAct" and sig.field("next_tool_name") else None
        return compile_constraint((adapter or self.adapter).name, sig, tools, max_tokens)

    def user_max_tokens(self, lm: Any, extra: dict[str, Any] | None = None) -> int | None:
        """max_tokens as the user set it (call, predictor option, model params), or None."""
        for source in (extra or {}, self.lm_params, getattr(lm, "params", None) or {}):
            if isinstance(source.get("max_tokens"), int):
                return int(source["max_tokens"])
        return None

    def predict(self, sig: Signature, inputs: dict[str, Any], instructions: str | None,
                demos: list[dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
        """One predictor call and its ladder: constrained, at most one unconstrained repair;
        unconstrained, a repair then the JSON adapter; then LMOutputError (LMTruncatedError when
        the answer was cut off by max_tokens)."""
        lm = self._host().lm_for(self.role)
        require_vision(lm, sig, inputs)  # an image for a text-only model: an error before any request
        adapter = self.adapter
        messages = adapter.render(sig, inputs, demos, instructions)
        constraint = self.constraint(sig, adapter, self.user_max_tokens(lm, extra))
        mode = constraint_mode(lm, constraint)
        base = {**self.lm_params, **adapter.request_params(sig, lm), **extra, "predictor": self.id}
        derived = self._budget(lm, base, constraint, constrained=mode != "none")
        params = {**derived, **base}
        if callable(getattr(lm, "constraint_mode", None)):
            # The model layer decides what goes on the wire (and records "none" when nothing does).
            params["constraint"] = constraint
        if isinstance(adapter, ChatAdapter):
            # Stop at the end marker: nothing useful comes after it and small models ramble on.
            params.setdefault("stop", [COMPLETED])
        response = streaming.complete(lm, sig, adapter, messages, **params)
        if response.truncated and mode != "none" and derived:
            # The grammar counts a line break or `[` with the character after it as one unit of a text's
            # bound, so text of one-character lines (`#\n#\n#`) can take two tokens a unit and overrun the
            # budget of one; twice the budget always finishes such an answer (the user set no max_tokens).
            params = {**params, "max_tokens": 2 * int(derived["max_tokens"]),
                      "tags": {**(extra.get("tags") or {}), "attempt": "longer"}}
            response = streaming.complete(lm, sig, adapter, messages, **params)
        try:
            parsed = adapter.parse(sig, response.text)
        except AdapterParseError as exc:
            first = exc
        else:
            if not (response.truncated and mode != "none"):
                return parsed
            # A prefix of a constrained answer can parse (a text field cut short): never taken silently.
            first = _unfinished(sig, response.text)
        if response.truncated and mode != "none":
            # The grammar kept it valid up to the cut: more of the same budget cannot finish it.
            raise _cut_off(first, params, response.text, lm)
        # 1) one repair: the model sees its own answer and what was wrong with it; unconstrained, since
        # a constrained answer that still failed needs what the grammar could not express.
        repair = [*messages, {"role": "assistant", "content": response.text},
                  {"role": "user", "content": repair_message(first.message, sig, first.field)}]
        rparams = {k: v for k, v in params.items() if k != "constraint"}
        rparams.update(self._budget(lm, base, constraint, constrained=False))
        response2 = streaming.complete(lm, sig, adapter, repair,
                                       **{**rparams, "tags": {**(extra.get("tags") or {}), "attempt": "repair"}})
        try:
            return adapter.parse(sig, response2.text)
        except AdapterParseError as exc:
            last = exc
        last_response, last_params = response2, rparams
        steps = "after a repair attempt"
        # 2) unconstrained only: the JSON adapter (at most 3 calls; constrained calls stop at 2).
        if mode == "none" and not isinstance(adapter, JSONAdapter):
            jad = JSONAdapter()
            jmessages = jad.render(sig, inputs, demos, instructions)
            jbase = {**self.lm_params, **jad.request_params(sig, lm), **extra, "predictor": self.id}
            jparams = {**self._budget(lm, jbase, self.constraint(sig, jad), constrained=False), **jbase,
                       "tags": {**(extra.get("tags") or {}), "attempt": "json"}}
            response3 = streaming.complete(lm, sig, jad, jmessages, **jparams)
            try:
                return jad.parse(sig, response3.text)
            except AdapterParseError as exc:
                last = exc
            last_response, last_params = response3, jparams
            steps = "after a repair attempt and the JSON adapter"
        if last_response.truncated:
            raise _cut_off(last, last_params, last_response.text, lm,
                           "The answers were not constrained to the output types; where the model's server takes "
                           "a grammar, the model param `constrain` (or `server`) makes it write only valid values."
                           if mode == "none" else "")
        field_name = last.field or first.field
        expected = last.expected_type if last.field else first.expected_type
        raise LMOutputError(field_name, expected, last.raw_output,
                            f"{last.message} ({steps}; first error: {first.message})")

    @staticmethod
    def _budget(lm: LM, base: dict[str, Any], constraint: Constraint, constrained: bool) -> dict[str, Any]:
        """`max_tokens` derived from the output types unless the model's params or the call set it."""
        own = getattr(lm, "params", None) or {}
        if "max_tokens" in own or "max_tokens" in base:
            return {}
        return {"max_tokens": constraint.budget if constrained else constraint.loose_budget}

    def _tool_arg_types(self) -> dict[str, Any]:
        names = self._tool_names()
        if self.host is None:
            return {n: None for n in names}
        return tool_arg_types({spec.name: spec.params for spec in self.host.tool_specs(names)})

    # -------------------------------------------------------------- ReAct

    def _tool_names(self) -> list[str]:
        tools = self.options.get("tools") or []
        return [t for t in tools if isinstance(t, str)]

    def _offered_names(self) -> list[str]:
        """The names the model sees: an MCP server in `tools` stands for each of its tools."""
        if self.host is None:
            return self._tool_names()
        return [spec.name for spec in self.host.tool_specs(self._tool_names())]

    def _tool_lines(self) -> list[str]:
        if self.host is None:
            return [f"`{n}`" for n in self._tool_names()]
        return [spec.render() for spec in self.host.tool_specs(self._tool_names())]

    def _react(self, inputs: dict[str, Any]) -> Prediction:
        host = self._host()
        specs = {s.name: s for s in host.tool_specs(self._tool_names())}
        max_iters = int(self.options.get("max_iters", 5))
        trajectory = self._react_native(inputs, specs, max_iters)
        if trajectory is not None:
            return self._react_extract(inputs, trajectory)
        step_sig = react_step_signature(self.signature, list(specs))
        instructions = self.effective_instructions()
        trajectory = []
        for i in range(max_iters):
            step_inputs = {**inputs, "trajectory": format_trajectory(trajectory)}
            step = self.predict(step_sig, step_inputs, instructions, self.demos if i == 0 else None,
                                tags={"react_step": i})
            tool = step["next_tool_name"]
            args = step.get("next_tool_args") or {}
            entry = {"thought": step["next_thought"], "tool": tool, "args": to_plain(args)}
            if tool == "finish":
                trajectory.append({**entry, "observation": "done"})
                break
            try:
                observation = specs[tool].call(dict(args))
            except LMOutputError:
                raise
            except Exception as exc:  # noqa: BLE001 - the model sees tool errors and may recover
                observation = f"error: {exc}"
            trajectory.append({**entry, "observation": to_plain(observation)})
        return self._react_extract(inputs, trajectory)

    def _react_native(self, inputs: dict[str, Any], specs: dict[str, ToolSpec],
                      max_iters: int) -> list[dict[str, Any]] | None:
        """The trajectory over native tool calls when the model takes them (runtime/tools_native.py);
        None when it gets the text protocol, or its server just refused `tools` (remembered)."""
        from lmp.runtime.lm.tool_calls import NativeToolsRejected
        from lmp.runtime.tools_native import run_native, tool_protocol

        lm = self._host().lm_for(self.role)
        if tool_protocol(lm) != "native":
            return None
        try:
            return run_native(self, lm, inputs, specs, max_iters)
        except NativeToolsRejected:
            return None

    def _react_extract(self, inputs: dict[str, Any], trajectory: list[dict[str, Any]]) -> Prediction:
        extract_sig = Signature(self.signature.name,
                                [*self.signature.inputs, Field("trajectory", STR, None, "in")],
                                [REASONING, *self.signature.outputs], self.signature.instructions)
        base = self.instructions if self.instructions is not None else self.signature.effective_instructions()
        out = self.predict(extract_sig, {**inputs, "trajectory": format_trajectory(trajectory)}, base, None,
                           tags={"react_step": "extract"})
        return Prediction({**out, "trajectory": trajectory})

    # -------------------------------------------------------------- BestOfN / Refine

    def _best_of_n(self, inputs: dict[str, Any], refine: bool) -> Prediction:
        host = self._host()
        n = int(self.options.get("N", self.options.get("n", 3)))
        reward = self.options.get("reward")
        threshold = self.options.get("threshold")
        threshold = float(threshold) if threshold is not None else 1.0
        sig = self.signature
        base = self.effective_instructions()
        best: Prediction | None = None
        best_score = float("-inf")
        feedback: str | None = None
        last_error: Exception | None = None
        for i in range(max(1, n)):
            extra: dict[str, Any] = {}
            if i > 0:
                # A distinct rollout id gives a fresh cache entry; sampling needs temperature > 0.
                extra["rollout_id"] = i
                extra.setdefault("temperature", self.lm_params.get("temperature", 1.0) or 1.0)
            instructions = base if not (refine and feedback) else f"{base}\n\n{feedback}"
            try:
                pred = Prediction(self.predict(sig, inputs, instructions, self.demos, **extra))
            except LMOutputError as exc:
                last_error = exc
                continue
            score = host.call_metric(reward, Record(dict(inputs)), pred) if reward else 1.0
            if score > best_score:
                best, best_score = pred, score
            if score >= threshold:
                break
            shown = json.dumps(pred.model_dump(), ensure_ascii=False)[:600]
            feedback = (f"Note: a previous attempt answered {shown}, which scored {score:g} on `{reward}` "
                        f"(needed {threshold:g}). Give a better answer.")
        if best is None:
            assert last_error is not None
            raise last_error
        return best


def constraint_mode(lm: LM, constraint: Constraint) -> str:
    """How `lm` would send `constraint` ("none" for models that take no constraints)."""
    decide = getattr(lm, "constraint_mode", None)
    return decide(constraint) if callable(decide) else "none"


def _unfinished(sig: Signature, text: str) -> AdapterParseError:
    """The field a cut-off answer was writing (the last section header in it, else the last output)."""
    heads = [m.group(1) for m in HEADER.finditer(text) if m.group(1) != "completed"]
    names = [f.name for f in sig.outputs]
    name = heads[-1] if heads and heads[-1] in names else (names[-1] if names else None)
    ftype = next((f.type.render() for f in sig.outputs if f.name == name), "the outputs")
    return AdapterParseError(name, ftype, text, "the answer stops before its end, so this field may be incomplete")


def _cut_off(error: AdapterParseError, params: dict[str, Any], raw: str, lm: LM, hint: str = "") -> LMTruncatedError:
    limit = params.get("max_tokens", (getattr(lm, "params", None) or {}).get("max_tokens"))
    return LMTruncatedError(error.field, error.expected_type, raw, limit, error.message, hint)


# ------------------------------------------------------------------ ReAct helpers


def react_step_signature(sig: Signature, tool_names: list[str]) -> Signature:
    names = tuple(dict.fromkeys([*tool_names, "finish"]))
    return Signature(
        sig.name,
        [*sig.inputs, Field("trajectory", STR, "the steps taken so far", "in")],
        [Field("next_thought", STR, "reason about the current situation", "out"),
         Field("next_tool_name", LiteralType(names), "the tool to call next, or finish", "out"),
         Field("next_tool_args", DictType(STR, ANY), "the tool's arguments as a JSON object", "out")],
        sig.instructions,
    )


def react_instructions(base: str, tool_lines: list[str]) -> str:
    outs = ", ".join(f"`{f}`" for f in ("next_thought", "next_tool_name", "next_tool_args"))
    lines = [base, "",
             "You work in steps. In each step give " + outs + ": a thought, then one tool to call and its "
             "arguments. The tool's result is added to the trajectory. Tools:"]
    lines += [f"{i}. {t}" for i, t in enumerate(tool_lines, 1)]
    lines.append(f"{len(tool_lines) + 1}. `finish()`: call it when you have what you need to answer; its args are {{}}.")
    return "\n".join(lines)


def format_trajectory(trajectory: list[dict[str, Any]]) -> str:
    if not trajectory:
        return "(nothing yet)"
    parts = []
    for i, step in enumerate(trajectory):
        parts.append(f"thought_{i}: {step['thought']}\ntool_{i}: {step['tool']}"
                     f"\nargs_{i}: {json.dumps(step['args'], ensure_ascii=False)}"
                     f"\nobservation_{i}: {_obs(step['observation'])}")
    return "\n\n".join(parts)


def _obs(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def majority(values: list[Any], field: str | None = None) -> Any:
    """The most common answer; for predictions, the one whose `field` (default: the last output
    field) is most common. Strings vote case- and whitespace-insensitively; ties go to the first."""
    if not values:
        raise LmpRuntimeError("majority() needs at least one value")

    def key_of(v: Any) -> Any:
        if isinstance(v, Record):
            name = field or (v.keys()[-1] if v.keys() else None)
            v = v.get(name) if name else None
        v = to_plain(v)
        if isinstance(v, str):
            return " ".join(v.lower().split())
        return json.dumps(v, sort_keys=True, default=str)

    counts: dict[Any, int] = {}
    for v in values:
        k = key_of(v)
        counts[k] = counts.get(k, 0) + 1
    winner = max(counts.values())
    for v in values:
        if counts[key_of(v)] == winner:
            return v
    return values[0]
