"""Decoding constraints as the model layer sends them: which server takes which field.

The adapters compile a signature's output types into a `Constraint` (a GBNF grammar and/or a JSON
Schema, see `lmp.runtime.adapters.constraints`); this module decides, per model, whether and how it
goes into the request body. What each server accepts (verified against their documentation):

- llama.cpp's server (the embedded model, xllamacpp): a GBNF `grammar` string, or
  `response_format` json_schema;
- vLLM: `structured_outputs: {"grammar": ...}` (the older `guided_grammar` was removed in 0.12), or
  `response_format` json_schema;
- SGLang: `ebnf` (GBNF syntax through xgrammar), or `response_format` json_schema;
- Ollama's OpenAI-compatible endpoint: `response_format` json_schema (its native API calls it
  `format`); no grammar;
- hosted providers through litellm: `response_format` json_schema with `strict`, where litellm's
  `supports_response_schema` says the model takes it.

No probing call is ever made: the server kind comes from the model id (`ollama/...`,
`hosted_vllm/...`), the embedded model, or the model param `server`; the mode from the model param
`constrain` ("grammar" | "json_schema" | "none") or the kind's default. A server that rejects the
constraint with HTTP 400 is remembered for the process (per api_base and model) and called
unconstrained from then on.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from typing import Any

from .rejections import ServerRejections

MODES = ("grammar", "json_schema", "none")
SERVER_KINDS = ("llama.cpp", "vllm", "sglang", "ollama", "openai")
# Model params read by lmp for constraints; never sent to the provider.
CONSTRAINT_PARAMS = ("constrain", "server")
_KIND_ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "llama_cpp": "llama.cpp",
                 "xllamacpp": "llama.cpp", "local": "llama.cpp"}
# Body fields a constraint may add (kept out of the recorded params; the history says `constraint`).
CONSTRAINT_FIELDS = ("grammar", "response_format", "structured_outputs", "ebnf")


class ConstraintRejectedWarning(UserWarning):
    """A server refused the decoding constraint; lmp calls it unconstrained from now on."""


@dataclass(frozen=True)
class Constraint:
    """What the adapter compiled for one signature. `grammar` is GBNF text of the whole answer;
    `schema` a JSON Schema of the answer object (JSON adapter only); `strict_ok` says whether the
    schema fits hosted strict structured outputs (no open-ended objects)."""

    adapter: str
    grammar: str | None
    schema: dict[str, Any] | None = None
    name: str = "outputs"
    strict_ok: bool = True
    notes: tuple[str, ...] = ()
    budget: int = 256
    loose_budget: int = 512

    def digest(self) -> str:
        """A short, stable hash of what would be sent (shown in history instead of the whole text)."""
        blob = json.dumps({"g": self.grammar, "s": self.schema}, sort_keys=True, ensure_ascii=False)
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]

    def supports(self, mode: str) -> bool:
        return (mode == "grammar" and self.grammar is not None) or (mode == "json_schema" and self.schema is not None)


def normalize_kind(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    v = value.strip().lower()
    v = _KIND_ALIASES.get(v, v)
    if v not in SERVER_KINDS:
        raise ValueError(f"model param `server` must be one of {', '.join(SERVER_KINDS)}, not {value!r}")
    return v


def normalize_mode(value: Any) -> str | None:
    if value is None:
        return None
    if value is False:
        return "none"
    v = str(value).strip().lower().replace("-", "_")
    if v not in MODES:
        raise ValueError(f"model param `constrain` must be one of {', '.join(MODES)}, not {value!r}")
    return v


def server_kind(model: str, *, local: bool = False, explicit: str | None = None) -> str | None:
    """The known server behind a model id, or None (a hosted provider or an unknown server)."""
    if explicit:
        return explicit
    if local:
        return "llama.cpp"
    provider = model.split("/", 1)[0] if "/" in model else ""
    if provider in ("ollama", "ollama_chat"):
        return "ollama"
    if provider == "hosted_vllm":
        return "vllm"
    return None


def default_mode(kind: str | None, adapter: str, *, hosted_schema: bool = False) -> str:
    """The mode used when the user set no `constrain`."""
    if kind in ("llama.cpp", "vllm", "sglang"):
        return "grammar"
    if kind == "ollama":
        return "json_schema" if adapter == "json" else "none"
    if kind is None and hosted_schema and adapter == "json":
        return "json_schema"
    return "none"


def effective_mode(mode: str, kind: str | None, constraint: Constraint) -> str:
    """What is actually sent for a requested mode: a server or constraint that cannot take it gets none.
    A JSON-adapter constraint asked for as json_schema on a grammar server still goes as the schema."""
    if mode == "grammar" and kind == "ollama":
        return "json_schema" if constraint.supports("json_schema") else "none"
    if not constraint.supports(mode):
        return "none"
    return mode


def request_fields(constraint: Constraint, mode: str, kind: str | None, *, strict: bool = False) -> dict[str, Any]:
    """The body fields that carry `constraint` in `mode` to a server of `kind`."""
    if mode == "grammar" and constraint.grammar is not None:
        if kind == "vllm":
            return {"structured_outputs": {"grammar": constraint.grammar}}
        if kind == "sglang":
            return {"ebnf": constraint.grammar}
        return {"grammar": constraint.grammar}
    if mode == "json_schema" and constraint.schema is not None:
        spec: dict[str, Any] = {"name": constraint.name, "schema": constraint.schema}
        if strict and constraint.strict_ok:
            spec["strict"] = True
        return {"response_format": {"type": "json_schema", "json_schema": spec}}
    return {}


def summary(constraint: Constraint | None, mode: str, *, fallback: bool = False) -> dict[str, Any]:
    """What a history entry records about the constraint of one call."""
    if constraint is None or mode == "none":
        out: dict[str, Any] = {"kind": "none"}
    else:
        out = {"kind": mode, "hash": constraint.digest()}
    if fallback:
        out["fallback"] = "rejected by the server; sent unconstrained"
    return out


def is_rejection(detail: str, fields: dict[str, Any]) -> bool:
    """An HTTP 400 that names the constraint we sent (not some other bad parameter)."""
    text = detail.lower()
    words = {"grammar", "response_format", "json_schema", "structured", "ebnf", "guided", "schema"}
    return bool(fields) and any(w in text for w in words)


_rejected = ServerRejections()


def rejected(api_base: str | None, model: str) -> bool:
    return _rejected.has(api_base, model)


def remember_rejection(api_base: str | None, model: str, mode: str, detail: str) -> None:
    if _rejected.remember(api_base, model):
        where = f" at {api_base}" if api_base else ""
        warnings.warn(
            f"model {model!r}{where} rejected the {mode} decoding constraint ({detail[:160]}); calling it "
            "unconstrained for the rest of this process. Set the model param constrain: \"none\" (or the "
            "right `server` kind) to silence this.",
            ConstraintRejectedWarning,
            stacklevel=2,
        )


def forget_rejections() -> None:
    """Tests: start from a clean process state."""
    _rejected.clear()


def describe_call(constraint: dict[str, Any] | None, finish_reason: str | None) -> str:
    """The per-call suffix `--trace` and `lmp history` print: the constraint sent and a cut-off."""
    parts = []
    if not isinstance(constraint, dict):  # absent, or a hand-edited history line
        constraint = None
    if constraint and constraint.get("kind", "none") != "none":
        parts.append(f"{constraint['kind']} {constraint.get('hash', '')}".strip())
    elif constraint:
        parts.append("unconstrained" + (" (server rejected the constraint)" if constraint.get("fallback") else ""))
    if finish_reason in ("length", "max_tokens"):
        parts.append("cut off at max_tokens")
    return "".join(f" · {p}" for p in parts)
