"""ReAct over native tool calls: the tools go to the model as OpenAI-style function definitions,
the model answers with `tool_calls` (several at once when they do not depend on each other), lmp
runs them concurrently and sends each result back as a `tool` message, until the model answers
without calling a tool or `max_iters` rounds have passed.

The trajectory it builds has the same entries as the text protocol's (`thought`, `tool`, `args`,
`observation`, plus the call's `id`), so the extraction call that turns it into the typed outputs
is the same for both protocols. Which protocol a model gets is the model layer's decision
(`lm.tool_mode()`, see `lmp.runtime.lm.tool_calls`); a server that refuses `tools` raises
`NativeToolsRejected` from the first call and ReAct runs the text protocol instead.
"""

from __future__ import annotations

import contextvars
import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lmp.ir.nodes import Signature
from lmp.runtime.adapters.chat import ChatAdapter
from lmp.runtime.adapters.constraints import type_from_text
from lmp.runtime.errors import LMOutputError
from lmp.runtime.lm.base import LM, Message
from lmp.runtime.lm.tool_calls import wire_tool_calls
from lmp.runtime.values import to_plain

if TYPE_CHECKING:
    from lmp.runtime.predictors import PredictorRuntime, ToolSpec

# Parallel calls of one turn run on at most this many threads (more calls wait for a free one).
MAX_PARALLEL_CALLS = 8


def tool_protocol(lm: Any) -> str:
    """"native" or "text": how `lm` is offered ReAct's tools (text for models that do not say)."""
    decide = getattr(lm, "tool_mode", None)
    return str(decide()) if callable(decide) else "text"


def tool_definition(spec: ToolSpec) -> dict[str, Any]:
    """One tool as an OpenAI-style function definition; its parameters' JSON Schema comes from
    their declared types (an MCP tool's from its server's own schema)."""
    if spec.schema is not None:
        parameters = spec.schema
    else:
        props = {name: type_from_text(t).json_schema() for name, t in spec.params}
        required = [name for name, _ in spec.params if name not in spec.optional]
        parameters = {"type": "object", "properties": props, "required": required}
    fn: dict[str, Any] = {"name": spec.name, "parameters": parameters}
    if spec.description:
        fn["description"] = spec.description
    return {"type": "function", "function": fn}


def native_instructions(base: str) -> str:
    return (f"{base}\n\nUse the tools to gather what you need; call several at once when they do not depend "
            "on each other. Each result comes back to you. When you have what you need, reply with a short "
            "summary of what you found, without calling a tool.")


def first_messages(sig: Signature, inputs: dict[str, Any], instructions: str) -> list[Message]:
    """The messages of the first native call: the instructions, then the inputs as field sections."""
    user = ChatAdapter().user_message(Signature(sig.name, list(sig.inputs), [], sig.instructions), inputs, ask=False)
    return [{"role": "system", "content": native_instructions(instructions)}, {"role": "user", "content": user}]


def run_native(runtime: PredictorRuntime, lm: LM, inputs: dict[str, Any], specs: dict[str, ToolSpec],
               max_iters: int) -> list[dict[str, Any]]:
    """The trajectory of a native tool-calling loop (raises NativeToolsRejected from the first call
    when the server refuses `tools`)."""
    base = runtime.instructions if runtime.instructions is not None else runtime.signature.effective_instructions()
    messages: list[Any] = first_messages(runtime.signature, inputs, base)
    tools = [tool_definition(s) for s in specs.values()]
    trajectory: list[dict[str, Any]] = []
    for i in range(max_iters):
        response = lm.complete(list(messages), **{**runtime.lm_params, "tools": tools, "predictor": runtime.id,
                                                  "tags": {"react_step": i, "tool_protocol": "native"}})
        calls = response.tool_calls or []
        thought = response.text or ""
        if not calls:
            trajectory.append({"thought": thought, "tool": "finish", "args": {}, "observation": "done"})
            break
        messages.append({"role": "assistant", "content": response.text or None, "tool_calls": wire_tool_calls(calls)})
        observations = _run_calls(calls, specs)
        for call, (args, observation) in zip(calls, observations, strict=True):
            trajectory.append({"thought": thought, "tool": call["name"], "args": to_plain(args),
                               "observation": to_plain(observation), "id": call["id"]})
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": _text(observation)})
    return trajectory


def _run_calls(calls: list[dict[str, Any]], specs: dict[str, ToolSpec]) -> list[tuple[dict[str, Any], Any]]:
    """Run one turn's calls, concurrently when there are several; results in the calls' order."""
    if len(calls) == 1:
        return [_run_one(calls[0], specs)]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CALLS, len(calls)),
                            thread_name_prefix="lmp-tool") as pool:
        # Each call runs in a copy of this context: a trace being collected sees nested predictor calls.
        futures = [pool.submit(contextvars.copy_context().run, _run_one, c, specs) for c in calls]
        return [f.result() for f in futures]


def _run_one(call: dict[str, Any], specs: dict[str, ToolSpec]) -> tuple[dict[str, Any], Any]:
    """(arguments, observation): a malformed call or a failing tool becomes an observation the model
    can act on, as in the text protocol."""
    try:
        args = json.loads(call["arguments"] or "{}")
    except ValueError as exc:
        return {}, f"error: the arguments are not valid JSON ({exc}): {call['arguments'][:200]}"
    if not isinstance(args, dict):
        return {}, f"error: the arguments must be a JSON object, got {call['arguments'][:200]}"
    spec = specs.get(call["name"])
    if spec is None:
        return args, f"error: there is no tool `{call['name']}`; tools: {', '.join(specs)}"
    try:
        return args, spec.call(dict(args))
    except LMOutputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the model sees tool errors and may recover
        return args, f"error: {exc}"


def _text(value: Any) -> str:
    value = to_plain(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def preview_tools(runtime: PredictorRuntime, model: str | None, params: dict[str, Any],
                  inputs: dict[str, Any]) -> tuple[dict[str, Any], list[Message] | None]:
    """For `lmp preview` of a ReAct predictor: how its tools go to `model` ({"protocol", "definitions"
    (native), "reason"}) and, when native, the first call's messages. Builds the LM the way a run
    does (no server is started, nothing is called); the tool specs come from the predictor's host."""
    lm: Any = None
    reason = None
    if model is not None:
        try:
            from lmp.runtime.lm.roles import make_lm

            lm = make_lm(model, {k: v for k, v in params.items() if k != "api_key"})
        except Exception as exc:  # noqa: BLE001 - a preview never fails because of model configuration
            reason = f"model {model!r} cannot be built here ({exc})"
    else:
        reason = "no model is configured"
    protocol = tool_protocol(lm) if lm is not None else "text"
    info: dict[str, Any] = {"protocol": protocol}
    if reason:
        info["reason"] = reason
    if protocol != "native" or runtime.host is None:
        return info, None
    specs = runtime.host.tool_specs(runtime._tool_names())
    info["definitions"] = [tool_definition(s) for s in specs]
    base = runtime.instructions if runtime.instructions is not None else runtime.signature.effective_instructions()
    return info, first_messages(runtime.signature, inputs, base)


def format_tools(info: dict[str, Any] | None) -> str:
    """The tools block `lmp preview` prints after the messages of a ReAct predictor."""
    if not info:
        return ""
    if info["protocol"] != "native":
        why = f" ({info['reason']})" if info.get("reason") else ""
        return (f"──── tools: text protocol{why} ────\n(the tools are described in the system message; each "
                "step answers next_thought, next_tool_name, next_tool_args)")
    lines = ["──── tools: native (sent as `tools`; parallel calls run concurrently) ────"]
    lines += [json.dumps(d, ensure_ascii=False) for d in info.get("definitions") or []]
    return "\n".join(lines)
