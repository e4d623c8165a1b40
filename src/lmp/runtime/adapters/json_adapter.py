"""The JSON adapter: asks for one JSON object holding the outputs, decoded under a grammar of that
object or its JSON Schema where the server takes one (runtime/adapters/constraints.py). It is the
fallback when an unconstrained chat answer cannot be parsed, and can be chosen per predictor
(`adapter: "json"`)."""

from __future__ import annotations

import json
from typing import Any

from lmp.ir.nodes import Signature
from lmp.ir.types import OptionalType, RecordField, RecordType
from lmp.runtime.adapters.base import describe_fields, split_demo
from lmp.runtime.adapters.chat import ChatAdapter
from lmp.runtime.adapters.history import history_messages, visible_inputs
from lmp.runtime.adapters.parsing import (
    ValueParseError,
    coerce,
    load_structured,
    record_coercion,
    records_coercions,
)
from lmp.runtime.errors import AdapterParseError
from lmp.runtime.lm.base import Message
from lmp.runtime.media import attach_parts
from lmp.runtime.values import to_plain


def output_schema(signature: Signature) -> dict[str, Any]:
    record = RecordType(tuple(RecordField(f.name, f.type, f.description) for f in signature.outputs))
    return record.json_schema()


class JSONAdapter:
    name = "json"

    def __init__(self) -> None:
        self._chat = ChatAdapter()  # input sections are formatted the same way

    def system_message(self, signature: Signature, instructions: str | None = None) -> str:
        schema = json.dumps(output_schema(signature), ensure_ascii=False)
        objective = instructions if instructions is not None else signature.effective_instructions()
        return "\n".join([
            "Your input fields are:", describe_fields(visible_inputs(signature)),
            "Your output fields are:", describe_fields(signature.outputs), "",
            "Inputs arrive as [[ ## field ## ]] sections. Answer with one JSON object whose keys are the "
            "output fields, adhering to this JSON schema:", schema, "",
            "Your objective is:", objective,
        ])

    def render(self, signature: Signature, inputs: dict[str, Any], demos: list[dict[str, Any]] | None = None,
               instructions: str | None = None) -> list[Message]:
        messages: list[Message] = [{"role": "system", "content": self.system_message(signature, instructions)}]
        for demo in demos or []:
            d_in, d_out = split_demo(signature, demo)
            messages.append({"role": "user", "content": self._chat.user_message(signature, d_in, ask=False)})
            messages.append({"role": "assistant", "content": json.dumps(to_plain(d_out), ensure_ascii=False)})
        messages += history_messages(signature, inputs,
                                     lambda outs: json.dumps(to_plain(outs), ensure_ascii=False))
        keys = ", ".join(f"`{f.name}`" for f in signature.outputs)
        user = self._chat.user_message(signature, inputs, ask=False)
        messages.append({"role": "user", "content": f"{user}\n\nRespond with a JSON object with the keys {keys}."})
        return attach_parts(messages)  # image markers -> image content parts

    @records_coercions
    def parse(self, signature: Signature, text: str) -> dict[str, Any]:
        # Each JSON candidate in the text (code fences, then the text, then objects in prose) is
        # tried against the signature; the first that gives every output wins.
        try:
            return load_structured(text, validate=lambda data: self._outputs(signature, text, data))
        except ValueParseError as exc:
            raise AdapterParseError(None, "JSON object", text, str(exc)) from None

    def _outputs(self, signature: Signature, text: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            if len(signature.outputs) == 1:
                record_coercion(f"{signature.outputs[0].name}: the whole JSON value read as this field")
                data = {signature.outputs[0].name: data}
            else:
                raise AdapterParseError(None, "JSON object", text, "expected a JSON object, got " + type(data).__name__)
        out: dict[str, Any] = {}
        for f in signature.outputs:
            if f.name not in data:
                if isinstance(f.type, OptionalType):
                    out[f.name] = None
                    continue
                raise AdapterParseError(f.name, f.type.render(), text, f"the key `{f.name}` is missing")
            try:
                out[f.name] = coerce(data[f.name], f.type, f.name)
            except ValueParseError as exc:
                raise AdapterParseError(f.name, f.type.render(), text, str(exc)) from None
        return out

    def request_params(self, signature: Signature, lm: Any) -> dict[str, Any]:
        # The schema (or a grammar of the same object) travels as the call's decoding constraint:
        # the model layer knows which server takes which (see runtime/lm/constrain.py).
        return {}
