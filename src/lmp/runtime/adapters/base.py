"""What every adapter shares: describing fields and types to a model, formatting input values,
reading demos, and the repair prompt used after a parse failure."""

from __future__ import annotations

import json
from typing import Any, Protocol

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import (
    DictType,
    ListType,
    LiteralType,
    MediaType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
    strip_optional,
)
from lmp.runtime.lm.base import Message
from lmp.runtime.values import to_plain


class Adapter(Protocol):
    name: str

    def render(self, signature: Signature, inputs: dict[str, Any], demos: list[dict[str, Any]] | None = None,
               instructions: str | None = None) -> list[Message]: ...

    def parse(self, signature: Signature, text: str) -> dict[str, Any]: ...

    def request_params(self, signature: Signature, lm: Any) -> dict[str, Any]: ...


def type_label(t: Type) -> str:
    """How a field's type is named in the field list (`Category`, `list[str]`, `int?`)."""
    return t.render()


def constraint(t: Type) -> str | None:
    """The per-type rule the model must follow, or None for plain strings."""
    inner = strip_optional(t)
    suffix = " (or null when unknown)" if isinstance(t, OptionalType) else ""
    if isinstance(inner, LiteralType):
        # Small models copy a bare member list back as their answer ("A; B; C; D; E; E; E"): the
        # members are quoted, comma-separated and followed by what to write, which they copy less.
        members = ", ".join(json.dumps(m, ensure_ascii=False) for m in inner.members)
        unknown = ", or null when unknown" if isinstance(t, OptionalType) else ""
        return f"one of: {members} (write only the chosen value{unknown})"
    if isinstance(inner, PrimType):
        if inner.name == "float":
            return "a single number (e.g. 0.5), nothing else" + suffix
        if inner.name == "int":
            return "a single integer, nothing else" + suffix
        if inner.name == "bool":
            return "true or false" + suffix
        return None if not suffix else "a string" + suffix
    if isinstance(inner, ListType | DictType | RecordType):
        schema = json.dumps(t.json_schema(), ensure_ascii=False, separators=(",", ":"))
        return f"JSON that adheres to this JSON schema: {schema}"
    return None


def describe_fields(fields: list[Field]) -> str:
    lines = []
    for i, f in enumerate(fields, 1):
        line = f"{i}. `{f.name}` ({type_label(f.type)})"
        if f.description:
            line += f": {f.description}"
        lines.append(line)
    return "\n".join(lines)


def format_value(value: Any) -> str:
    """Input values as a model reads them: strings raw, string lists numbered, the rest JSON; an
    Image as its marker, which the adapter's render turns into an image content part (runtime/media.py)."""
    if getattr(value, "lmp_media", None) or isinstance(value, list) and value and all(
            getattr(v, "lmp_media", None) for v in value):
        return "\n".join(v.marker() for v in (value if isinstance(value, list) else [value]))
    value = to_plain(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(f"[{i}] {v}" for i, v in enumerate(value, 1))
    return json.dumps(value, ensure_ascii=False)


def format_output(value: Any, t: Type) -> str:
    """Output values in demos, in the exact form the parser expects back."""
    value = to_plain(value)
    if isinstance(value, str) and not isinstance(strip_optional(t), ListType | DictType | RecordType):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def split_demo(signature: Signature, demo: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Demos are `{"inputs": {...}, "outputs": {...}}` (state files) or flat field dicts."""
    if "inputs" in demo and isinstance(demo["inputs"], dict):
        return demo_images(signature, dict(demo["inputs"])), dict(demo.get("outputs") or {})
    ins = {f.name: demo[f.name] for f in signature.inputs if f.name in demo}
    outs = {f.name: demo[f.name] for f in signature.outputs if f.name in demo}
    return demo_images(signature, ins), outs


def demo_images(signature: Signature, inputs: dict[str, Any]) -> dict[str, Any]:
    """A demo's Image inputs given as text (a path or URL in an `example` or a dataset row) loaded as
    images, so a demo shows the model the image; text that is not a loadable image stays text."""
    from lmp.runtime.media import ImageError, as_image

    for f in signature.inputs:
        t = strip_optional(f.type)
        value = inputs.get(f.name)
        if not isinstance(t, MediaType) or not isinstance(value, str | dict):
            continue
        try:
            inputs[f.name] = as_image(value)
        except ImageError:
            pass
    return inputs


def repair_message(error: str, signature: Signature, field_name: str | None) -> str:
    """The user turn of the one repair attempt: the error, and the format again."""
    which = f"the field `{field_name}`" if field_name else "your answer"
    order = ", ".join(f"[[ ## {f.name} ## ]]" for f in signature.outputs)
    return (
        f"Your previous answer could not be used: {which}: {error}. "
        f"Answer again, with every output field in order ({order}), each value in the required format, "
        "then [[ ## completed ## ]]."
    )
