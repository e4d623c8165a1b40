"""`History` inputs: earlier turns of a conversation, rendered as prior user/assistant messages
between the demos and the current user message (chat and JSON adapters alike).

A turn is either
- a message, `{role: "user" | "assistant" | "system", content: str}` (content may hold an `Image`), or
- a record of the signature's own fields, e.g. `{question: "...", answer: "..."}`: its input fields
  become a user message in the adapter's input format and its output fields an assistant message in
  the adapter's answer format, so the model sees earlier exchanges exactly as it is asked to answer.
A History field is not shown as an input section of the current turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import HistoryType, strip_optional
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.lm.base import Message

ROLES = ("user", "assistant", "system")


def is_history(f: Field) -> bool:
    return isinstance(strip_optional(f.type), HistoryType)


def visible_inputs(signature: Signature) -> list[Field]:
    """The input fields shown as sections of a user message (all but History fields)."""
    return [f for f in signature.inputs if not is_history(f)]


def sections(values: dict[str, Any]) -> str:
    """Input values as `[[ ## name ## ]]` sections (the input format of both adapters)."""
    from lmp.runtime.adapters.base import format_value

    return "\n\n".join(f"[[ ## {name} ## ]]\n{format_value(v)}" for name, v in values.items())


def history_messages(signature: Signature, inputs: dict[str, Any],
                     assistant_text: Callable[[dict[str, Any]], str]) -> list[Message]:
    """The prior turns of every History input, in order, as messages."""
    out: list[Message] = []
    for f in signature.inputs:
        if not is_history(f):
            continue
        turns = inputs.get(f.name)
        if turns is None or isinstance(turns, str):  # None: optional and absent; str: a preview placeholder
            continue
        if not isinstance(turns, list):
            raise LmpRuntimeError(f"input `{f.name}` of `{signature.name}` is History, a list of turns; got "
                                  f"{type(turns).__name__}")
        for i, turn in enumerate(turns):
            out.extend(_turn(signature, f.name, i, turn, assistant_text))
    return out


def _turn(signature: Signature, field: str, index: int, turn: Any,
          assistant_text: Callable[[dict[str, Any]], str]) -> list[Message]:
    where = f"`{field}`[{index}] of `{signature.name}`"
    if not (isinstance(turn, dict) or hasattr(turn, "keys") and hasattr(turn, "get")):
        raise LmpRuntimeError(f"{where}: a turn is a record such as (role: \"user\", content: \"...\") or a record "
                              f"of the signature's fields; got {type(turn).__name__}")
    data = {k: turn.get(k) for k in turn.keys()}
    if "role" in data and "content" in data and set(data) <= {"role", "content"}:
        role = data["role"]
        if role not in ROLES:
            raise LmpRuntimeError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
        content = data["content"]
        if not isinstance(content, str):
            from lmp.runtime.adapters.base import format_value

            content = format_value(content)
        return [{"role": role, "content": content}]  # type: ignore[typeddict-item]
    ins = {f.name: data[f.name] for f in visible_inputs(signature) if f.name in data}
    outs = {f.name: data[f.name] for f in signature.outputs if f.name in data}
    known = {f.name for f in signature.inputs} | {f.name for f in signature.outputs}
    unknown = [k for k in data if k not in known]
    if unknown or not (ins or outs):
        fields = ", ".join(f.name for f in (*visible_inputs(signature), *signature.outputs))
        raise LmpRuntimeError(
            f"{where}: a turn is (role, content) or a record of `{signature.name}`'s fields ({fields}); "
            + (f"unknown key {', '.join(f'`{k}`' for k in unknown)}" if unknown else "it names none of them"))
    msgs: list[Message] = []
    if ins:
        msgs.append({"role": "user", "content": sections(ins)})
    if outs:
        msgs.append({"role": "assistant", "content": assistant_text(outs)})
    return msgs


__all__ = ["history_messages", "is_history", "sections", "visible_inputs"]
