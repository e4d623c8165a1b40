"""The chat adapter: `[[ ## field ## ]]` sections, the format DSPy proved across many models.

System message: the input and output fields with types and descriptions, the structure of an
answer with a rule per typed output, then the objective (the signature's instructions). Each demo
is a user/assistant pair. The user message holds the input sections and asks for the outputs in
order, ending with `[[ ## completed ## ]]`.
"""

from __future__ import annotations

import re
from typing import Any

from lmp.ir.nodes import Signature
from lmp.ir.types import OptionalType
from lmp.runtime.adapters.base import (
    constraint,
    describe_fields,
    format_output,
    format_value,
    split_demo,
)
from lmp.runtime.adapters.history import history_messages, visible_inputs
from lmp.runtime.adapters.parsing import ValueParseError, parse_text, record_coercion, records_coercions
from lmp.runtime.errors import AdapterParseError
from lmp.runtime.lm.base import Message
from lmp.runtime.media import attach_parts

HEADER = re.compile(r"\[\[\s*##\s*(\w+)\s*##\s*\]\]")
COMPLETED = "[[ ## completed ## ]]"


def header(name: str) -> str:
    return f"[[ ## {name} ## ]]"


class ChatAdapter:
    name = "chat"

    def system_message(self, signature: Signature, instructions: str | None = None) -> str:
        parts = ["Your input fields are:", describe_fields(visible_inputs(signature)),
                 "Your output fields are:", describe_fields(signature.outputs), "",
                 "Every exchange follows this structure, with the values filled in:", ""]
        for f in visible_inputs(signature):
            parts += [header(f.name), "{" + f.name + "}", ""]
        for f in signature.outputs:
            rule = constraint(f.type)
            parts += [header(f.name), "{" + f.name + "}" + (f"  # must be {rule}" if rule else ""), ""]
        parts.append(COMPLETED)
        objective = instructions if instructions is not None else signature.effective_instructions()
        parts += ["", "Following this structure, your objective is:", _indent(objective)]
        return "\n".join(parts)

    def user_message(self, signature: Signature, inputs: dict[str, Any], ask: bool = True) -> str:
        parts = []
        for f in visible_inputs(signature):  # History inputs are prior messages, not a section
            value = inputs.get(f.name, "{" + f.name + "}")
            parts += [header(f.name), format_value(value), ""]
        if ask:
            parts.append(self.output_request(signature))
        return "\n".join(parts).strip()

    def output_request(self, signature: Signature) -> str:
        steps = []
        for f in signature.outputs:
            rule = constraint(f.type)
            steps.append(f"`{header(f.name)}`" + (f" ({rule})" if rule else ""))
        return ("Respond with the output fields in this order: " + ", then ".join(steps)
                + f"; end with `{COMPLETED}`.")

    def assistant_message(self, signature: Signature, outputs: dict[str, Any]) -> str:
        parts = []
        for f in signature.outputs:
            if f.name in outputs:
                parts += [header(f.name), format_output(outputs[f.name], f.type), ""]
        parts.append(COMPLETED)
        return "\n".join(parts)

    def render(self, signature: Signature, inputs: dict[str, Any], demos: list[dict[str, Any]] | None = None,
               instructions: str | None = None) -> list[Message]:
        messages: list[Message] = [{"role": "system", "content": self.system_message(signature, instructions)}]
        for demo in demos or []:
            d_in, d_out = split_demo(signature, demo)
            messages.append({"role": "user", "content": self.user_message(signature, d_in, ask=False)})
            messages.append({"role": "assistant", "content": self.assistant_message(signature, d_out)})
        messages += history_messages(signature, inputs, lambda outs: self.assistant_message(signature, outs))
        messages.append({"role": "user", "content": self.user_message(signature, inputs)})
        return attach_parts(messages)  # image markers -> image content parts

    @records_coercions
    def parse(self, signature: Signature, text: str) -> dict[str, Any]:
        sections = split_sections(text)
        names = [f.name for f in signature.outputs]
        if not any(n in sections for n in names) and len(names) == 1:
            # Small models often answer a single field without its header; the intent is clear.
            sections[names[0]] = text.split(COMPLETED)[0]
            record_coercion(f"{names[0]}: the whole answer read as this field (no {header(names[0])} header)")
        out: dict[str, Any] = {}
        for f in signature.outputs:
            if f.name not in sections:
                if isinstance(f.type, OptionalType):
                    record_coercion(f"{f.name}: no {header(f.name)} section -> null (optional)")
                    out[f.name] = None
                    continue
                raise AdapterParseError(f.name, f.type.render(), text,
                                        f"the section {header(f.name)} is missing")
            try:
                out[f.name] = parse_text(sections[f.name], f.type, f.name)
            except ValueParseError as exc:
                raise AdapterParseError(f.name, f.type.render(), text, str(exc)) from None
        return out

    def request_params(self, signature: Signature, lm: Any) -> dict[str, Any]:
        return {}


def split_sections(text: str) -> dict[str, str]:
    """`[[ ## name ## ]]` headers -> {name: text up to the next header}; the first occurrence wins."""
    sections: dict[str, str] = {}
    matches = list(HEADER.finditer(text))
    for i, m in enumerate(matches):
        name = m.group(1)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        if name != "completed" and name not in sections:
            sections[name] = text[m.end():end].strip()
    return sections


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.splitlines())
