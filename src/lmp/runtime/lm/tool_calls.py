"""Native tool calling at the model layer: which models get OpenAI-style `tools`, how their
`tool_calls` are read back, and what happens when a server refuses them.

ReAct offers its tools either as text (the `next_tool_name` / `next_tool_args` output fields, held
to the tools' argument types by the decoding constraint where the server takes one) or natively
(`tools` in the request body; the model answers with `tool_calls`, possibly several at once, and
gets each result back as a `tool` message). Which one a model gets is decided from settings alone,
never by a probing call:

- the model param `tool_calls: "native" | "text"` when set;
- else by the known server kind: vLLM, SGLang and Ollama take `tools` (vLLM only when started with
  `--enable-auto-tool-choice`; if it was not, the fallback below applies); llama.cpp's server (and
  the embedded model) gets text, where the grammar keeps small models' calls well-formed;
- else a hosted model gets native calls where litellm's `supports_function_calling` says so;
- anything else (an unknown OpenAI-compatible server, a text-completion model) gets text.

A server that answers a request carrying `tools` with an HTTP 400/422 naming them is remembered
for the process (per api_base and model), warned about once, and reached over the text protocol
from then on: the call raises `NativeToolsRejected`, which ReAct answers by running the same step
with the text protocol.
"""

from __future__ import annotations

import json
import uuid
import warnings
from typing import Any

from .base import LMBadRequestError
from .rejections import ServerRejections

TOOL_MODES = ("native", "text")


class ToolsRejectedWarning(UserWarning):
    """A server refused native tool definitions; lmp uses the text protocol with it from now on."""


class NativeToolsRejected(LMBadRequestError):
    """The server refused the `tools` field of a request (remembered: later calls use text)."""


def normalize_tool_mode(value: Any) -> str | None:
    if value is None:
        return None
    v = str(value).strip().lower()
    if v not in TOOL_MODES:
        raise ValueError(f"model param `tool_calls` must be one of {', '.join(TOOL_MODES)}, not {value!r}")
    return v


def default_tool_mode(kind: str | None, *, chat: bool, hosted_function_calling: bool = False) -> str:
    """The protocol a model gets when the user set no `tool_calls`."""
    if not chat:
        return "text"
    if kind in ("vllm", "sglang", "ollama"):
        return "native"
    if kind is None and hosted_function_calling:
        return "native"
    return "text"


def is_tools_rejection(detail: str) -> bool:
    """An HTTP 400/422 that is about the tool definitions (not some other bad parameter)."""
    text = detail.lower()
    return any(w in text for w in ("tool", "function call", "function_call", "functions", "--jinja"))


_rejected = ServerRejections()


def tools_rejected(api_base: str | None, model: str) -> bool:
    return _rejected.has(api_base, model)


def remember_tools_rejection(api_base: str | None, model: str, detail: str) -> None:
    if _rejected.remember(api_base, model):
        where = f" at {api_base}" if api_base else ""
        warnings.warn(
            f"model {model!r}{where} rejected native tool definitions ({detail[:160]}); ReAct uses the text "
            "protocol with it for the rest of this process. Set the model param tool_calls: \"text\" to "
            "silence this.",
            ToolsRejectedWarning,
            stacklevel=3,
        )


def forget_tool_rejections() -> None:
    """Tests: start from a clean process state."""
    _rejected.clear()


def parse_tool_calls(message: Any) -> list[dict[str, Any]] | None:
    """`[{"id", "name", "arguments"}]` from an OpenAI-style assistant message (a dict), or None.
    `arguments` stays the JSON text the model wrote: reading it is the caller's business, so that
    a malformed one becomes an observation the model can fix rather than an error here."""
    if not isinstance(message, dict):
        return None
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        return None
    out: list[dict[str, Any]] = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            continue
        args = fn.get("arguments")
        if not isinstance(args, str):
            args = json.dumps(args if args is not None else {}, ensure_ascii=False)
        call_id = call.get("id")
        out.append({"id": call_id if isinstance(call_id, str) and call_id else f"call_{uuid.uuid4().hex[:12]}",
                    "name": name, "arguments": args})
    return out or None


def response_tool_calls(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The first choice's tool calls in an OpenAI-style chat completion body."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    return parse_tool_calls(choices[0].get("message"))


def wire_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parsed calls back in the form an assistant message carries them in the next request."""
    return [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]


def describe_message(message: Any) -> str:
    """A message as `--trace` and `lmp history` print it: its text, the tool calls an assistant turn
    made (native protocol), and which call a `tool` message answers."""
    if not isinstance(message, dict):
        return str(message)
    content = message.get("content")
    text = content if isinstance(content, str) else "" if content is None else json.dumps(content, default=str)
    lines = [text] if text else []
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            lines.append(f"-> {fn.get('name')}({fn.get('arguments')})  [{call.get('id')}]")
    if message.get("tool_call_id"):
        lines.insert(0, f"(result of {message['tool_call_id']})")
    return "\n".join(lines)


def describe_tools(request: dict[str, Any]) -> dict[str, Any] | None:
    """What a history entry records about the tools offered natively in one call."""
    tools = request.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    names = [t.get("function", {}).get("name") for t in tools if isinstance(t, dict)]
    return {"protocol": "native", "names": [n for n in names if isinstance(n, str)]}
