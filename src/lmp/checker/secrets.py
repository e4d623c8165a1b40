"""Literal keys in sources (W111): a key written into a `.lmp` file is copied wherever the file
goes (version control, MLflow artifacts, bug reports). Model settings should read keys with
`env("NAME")` or leave them to the provider's usual environment variable.

`literal_secrets` is also what `lmp export mlflow` uses to refuse copying such a source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lmp.diagnostics import Diagnostic, Fix, Severity, Span
from lmp.ir import nodes as ir
from lmp.secrets import MIN_SECRET_LENGTH, is_secret_name, scrub

CODE = "W111"
MESSAGE = 'literal API key in model params; use env("NAME") or the documented environment variables'


@dataclass(frozen=True)
class LiteralSecret:
    """An API key written as a literal in a model's settings."""

    path: str
    model: str  # the role
    setting: str  # `api_key`, `headers.Authorization`, ...
    span: Span
    env_name: str  # a suggested variable to read it from


def _provider_env(model_id: str) -> str:
    provider = model_id.split("/", 1)[0] if "/" in model_id else "OPENAI"
    return re.sub(r"[^A-Za-z0-9]+", "_", provider).upper() + "_API_KEY"


def _secret_values(setting: str, value: Any) -> Iterator[str]:
    """The settings (dotted names) under `setting` that hold a literal key."""
    if isinstance(value, str):
        named = is_secret_name(setting.rsplit(".", 1)[-1]) and len(value.strip()) >= MIN_SECRET_LENGTH
        # A known key shape (sk-..., Bearer ...) or the value of a credential variable of this
        # process, whatever the setting is called (e.g. a key pasted into api_base's query).
        if named or scrub(value) != value:
            yield setting
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _secret_values(f"{setting}.{k}", v)
    elif isinstance(value, list):
        for v in value:
            yield from _secret_values(setting, v)


def literal_secrets(program: ir.Program) -> list[LiteralSecret]:
    """Model settings of `program`'s own declarations that hold a literal key (env("...") excluded)."""
    out: list[LiteralSecret] = []
    for name, decl in program.models.items():
        if decl.path and program.path and decl.path != program.path:
            continue  # an import's declarations are reported in their own file
        for setting, value in decl.params.items():
            for where in _secret_values(setting, value):
                span = decl.param_spans.get(setting, decl.span)
                out.append(LiteralSecret(program.path, name, where, span, _provider_env(decl.model)))
    return out


def check_secrets(program: ir.Program) -> list[Diagnostic]:
    diags = []
    for found in literal_secrets(program):
        fixes = []
        if "." not in found.setting and is_secret_name(found.setting):
            # a key setting can simply become env("..."); a key inside another value cannot
            fixes.append(Fix(f'Read `{found.setting}` with env("{found.env_name}")', found.span,
                             f'env("{found.env_name}")'))
            hint = (f'write `{found.setting}: env("{found.env_name}")` and set {found.env_name} in the '
                    "environment; the key is then never part of the source")
        else:
            hint = (f"`{found.setting}` holds what looks like a key; keep it in an environment variable and "
                    'read it with env("NAME")')
        diags.append(Diagnostic(CODE, MESSAGE, found.span, severity=Severity.WARNING, path=program.path,
                                hint=hint, fixes=fixes))
    return diags
