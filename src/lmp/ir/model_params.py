"""Model settings that are not constants: `env("NAME")`, a value read from the environment when the
model is built.

`model default = "openai/gpt-4o-mini" { api_key: env("MY_OPENAI_KEY") }` keeps the key out of the
source (and out of everything copied from it: exports, state files, previews); the value is read
only when the role's LM is made, and registered with `lmp.secrets` so that it is scrubbed wherever
a provider echoes it back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lmp.ir import nodes as ir

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class EnvRef:
    """`env("NAME")` in a model's settings."""

    name: str

    def __str__(self) -> str:
        return f'env("{self.name}")'

    __repr__ = __str__


class MissingEnvError(LookupError):
    """A model setting reads an environment variable that is not set."""

    def __init__(self, setting: str, name: str) -> None:
        super().__init__(f"model setting `{setting}` reads the environment variable {name}, which is not set; "
                         f"set it (export {name}=...) or give the role another model with --model ROLE=ID")
        self.setting = setting
        self.name = name


def env_call(expr: ir.Expr) -> EnvRef | str | None:
    """`EnvRef` for a well-formed `env("NAME")`, an error message for a malformed `env(...)`, None
    when `expr` is not a call to `env`."""
    if not (isinstance(expr, ir.Call) and isinstance(expr.func, ir.Name) and expr.func.id == "env"):
        return None
    if len(expr.args) == 1 and not expr.kwargs:
        arg = expr.args[0]
        if isinstance(arg, ir.Literal) and isinstance(arg.value, str) and ENV_NAME.match(arg.value):
            return EnvRef(arg.value)
    return 'env() takes one environment variable name, e.g. env("OPENAI_API_KEY")'


def resolve_env(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`params` with every `env("NAME")` replaced by the variable's value (nested values included).
    Raises `MissingEnvError` for a variable that is not set."""
    env = os.environ if environ is None else environ

    def value(setting: str, v: Any) -> Any:
        if isinstance(v, EnvRef):
            if v.name not in env:
                raise MissingEnvError(setting, v.name)
            return env[v.name]
        if isinstance(v, Mapping):
            return {k: value(f"{setting}.{k}", x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [value(setting, x) for x in v]
        return v

    return {k: value(k, v) for k, v in params.items()}
