"""Model roles: which model a role name (`model fast = "..."` in a .lmp file) resolves to, and
building the `LM` object for a model id.

Precedence, highest first (the usual "closest to the command line wins"):
1. CLI override (`--model ROLE=ID`),
2. environment `LMP_MODEL_<ROLE>` (role upper-cased, `-` -> `_`),
3. `[tool.lmp.models]` in the nearest pyproject.toml (`ROLE = "ID"` or `ROLE = {model = "ID", ...params}`),
4. the `.lmp` declaration,
5. the default, `local` (the embedded local model).
`LMP_API_BASE_<ROLE>` sets the role's api_base (e.g. a self-hosted endpoint) whatever the source.

Model ids: `local` (embedded chat model), `local-text` (same model through the text-completion path),
`fake` / `fake:TEXT` (scripted, for tests and demos), anything else is a litellm model id.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmp.ir.model_params import MissingEnvError, resolve_env
from lmp.secrets import install_log_scrubbing, register_secrets_in

from .base import LM, LMAuthError
from .cache import DiskCache
from .fake import FakeLM
from .history import History

DEFAULT_MODEL = "local"
# Params that belong to an endpoint, not to a role: dropped when a higher-precedence source swaps
# the model (a declared api_base for model A must not be sent to model B).
_ENDPOINT_PARAMS = ("api_base", "api_key", "base_url")


def _env_name(prefix: str, role: str) -> str:
    return prefix + role.upper().replace("-", "_").replace(".", "_")


def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    here = Path(start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def pyproject_models(start: str | os.PathLike[str] | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
    """`[tool.lmp.models]` of the nearest pyproject.toml as {role: (model_id, params)}."""
    path = find_pyproject(start)
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # a broken pyproject is the build tool's problem to report, not the runtime's
    table = data.get("tool", {}).get("lmp", {}).get("models", {})
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    if not isinstance(table, dict):
        return out
    for role, value in table.items():
        if isinstance(value, str):
            out[role] = (value, {})
        elif isinstance(value, dict) and isinstance(value.get("model"), str):
            params = {k: v for k, v in value.items() if k != "model"}
            out[role] = (value["model"], params)
    return out


def resolve_model(
    role_or_id: str | None,
    declared: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    overrides: Mapping[str, str] | None = None,
    *,
    start: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """(model_id, params) for a role name or a literal model id (see the module doc for precedence).

    A value containing "/" that is not a declared role is taken as a model id as-is; `None` means
    the role "default".
    """
    env = os.environ if environ is None else environ
    declared = declared or {}
    overrides = overrides or {}
    role = role_or_id or "default"

    declared_id, declared_params = (None, {})
    if role in declared:
        declared_id, declared_params = declared[role][0], dict(declared[role][1])

    if role in overrides:
        model_id, params = overrides[role], declared_params
    elif env.get(_env_name("LMP_MODEL_", role)):
        model_id, params = env[_env_name("LMP_MODEL_", role)], declared_params
    elif role in (pp := pyproject_models(start)):
        pp_id, pp_params = pp[role]
        model_id, params = pp_id, {**declared_params, **pp_params}
    elif declared_id is not None:
        model_id, params = declared_id, declared_params
    elif role_or_id and (
        "/" in role_or_id or ":" in role_or_id or role_or_id in ("local", "local-text", "fake")
    ):
        return role_or_id, {}  # a literal model id, not a role
    else:
        model_id, params = DEFAULT_MODEL, {}

    params = dict(params)
    if declared_id is not None and model_id != declared_id:
        for key in _ENDPOINT_PARAMS:
            params.pop(key, None)
    api_base = env.get(_env_name("LMP_API_BASE_", role))
    if api_base:
        params["api_base"] = api_base
    # Every key lmp is given, whatever its source, is masked wherever it could be echoed back,
    # log lines of any library included.
    register_secrets_in(params)
    install_log_scrubbing()
    return model_id, params


def make_lm(
    model_id: str,
    params: Mapping[str, Any] | None = None,
    cache: DiskCache | None = None,
    history: History | None = None,
) -> LM:
    """Build the LM for a model id. Never starts a server or imports litellm (that happens on call).
    `env("NAME")` settings are read here; a variable that is not set raises `LMAuthError`."""
    try:
        p = resolve_env(params or {})
    except MissingEnvError as exc:
        raise LMAuthError(f"Model {model_id!r}: {exc}", model=model_id) from None
    register_secrets_in(p)
    if model_id == "fake" or model_id.startswith("fake:"):
        text = model_id[len("fake:") :] if model_id.startswith("fake:") else None
        if text is None:
            return FakeLM(lambda msgs: msgs[-1]["content"] if msgs else "", model="fake", history=history)
        return FakeLM(default=text, model=model_id, history=history)

    common: dict[str, Any] = {"cache": cache, "history": history}
    for key in ("num_retries", "timeout", "fallbacks", "backoff_base", "transport"):
        if key in p:
            common[key] = p.pop(key)
    if "fallbacks" in common:
        fb = common["fallbacks"]
        common["fallbacks"] = [fb] if isinstance(fb, str) else list(fb)

    if model_id in ("local", "local-text"):
        from .local import local_lm

        model_type = "text" if model_id == "local-text" else p.pop("model_type", None)
        url = p.pop("api_base", None) or None  # set: reuse that server instead of starting one
        return local_lm(model_type=model_type, url=url, params=p, **common)

    from .litellm_lm import LiteLLM

    model_type = p.pop("model_type", "chat")
    return LiteLLM(
        model_id,
        model_type=model_type,
        api_base=p.pop("api_base", None) or p.pop("base_url", None),
        api_key=p.pop("api_key", None),
        params=p,
        **common,
    )
