"""Run-time configuration: which model each role uses, the cache and the history.

`configure(...)` sets process-wide defaults; `context(...)` overrides them for a block through a
ContextVar, so threads and asyncio tasks each see their own overrides (DSPy users' most common
thread-safety complaint is a global `settings` that one thread changes under another).
Settings objects are immutable; a change makes a new one.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lmp.ir.nodes import Program
from lmp.runtime.lm.base import LM
from lmp.runtime.lm.cache import DiskCache
from lmp.runtime.lm.history import History


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # model id for the default role (`--model ID` / configure(model=...))
    models: Mapping[str, str] = field(default_factory=dict)  # role -> model id (`--model ROLE=ID`)
    lm: LM | None = None  # one LM object for every role (tests, custom backends)
    lms: Mapping[str, LM] = field(default_factory=dict)  # role -> LM object
    cache: bool | str | DiskCache = True  # False: no cache; str: cache directory
    history: History | None = None
    adapter: str = "chat"

    def overrides(self) -> dict[str, str]:
        out = dict(self.models)
        if self.model is not None:
            out.setdefault("default", self.model)
        return out


_DEFAULT_HISTORY = History()
_global = Settings(history=_DEFAULT_HISTORY)
_override: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("lmp_settings", default=None)
_lock = threading.Lock()

_SETTING_NAMES = {f for f in Settings.__dataclass_fields__}


def current() -> Settings:
    return _override.get() or _global


def _merge(base: Settings, changes: dict[str, Any]) -> Settings:
    unknown = set(changes) - _SETTING_NAMES
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(_SETTING_NAMES))}")
    if "models" in changes and changes["models"] is not None:
        changes["models"] = {**base.models, **changes["models"]}
    if "lms" in changes and changes["lms"] is not None:
        changes["lms"] = {**base.lms, **changes["lms"]}
    return replace(base, **{k: v for k, v in changes.items()})


def configure(**changes: Any) -> Settings:
    """Process-wide defaults: `configure(model="openai/gpt-4o-mini", cache=False, models={"judge": ...})`."""
    global _global
    with _lock:
        _global = _merge(_global, changes)
    return _global


def reset() -> None:
    """Back to the defaults (tests)."""
    global _global
    with _lock:
        _global = Settings(history=_DEFAULT_HISTORY)


@contextlib.contextmanager
def context(**changes: Any) -> Iterator[Settings]:
    """`with context(model="..."):` overrides settings for this thread/task only."""
    token = _override.set(_merge(current(), changes))
    try:
        yield current()
    finally:
        _override.reset(token)


def history() -> History:
    h = current().history
    return h if h is not None else _DEFAULT_HISTORY


# ------------------------------------------------------------------ model resolution

_caches: dict[str, DiskCache] = {}
_lms: dict[tuple[Any, ...], LM] = {}


def _cache_for(setting: bool | str | DiskCache) -> DiskCache | None:
    if isinstance(setting, DiskCache):
        return setting
    if setting is False:
        return None
    from lmp.runtime.lm.cache import default_cache_dir

    path = str(default_cache_dir()) if setting is True else os.fspath(setting)
    with _lock:
        if path not in _caches:
            _caches[path] = DiskCache(path)
        return _caches[path]


def response_cache() -> DiskCache | None:
    """The disk cache calls made now would use (opening it; None with caching off). Raises
    `lmp.runtime.lm.cache.CacheUnavailable` when the file cannot be opened at all."""
    return _cache_for(current().cache)


def declared_models(program: Program | None) -> dict[str, tuple[str, dict[str, Any]]]:
    if program is None:
        return {}
    return {name: (decl.model, dict(decl.params)) for name, decl in program.models.items()}


def _role_known(role: str, program: Program | None, settings: Settings) -> bool:
    from lmp.runtime.lm.roles import _env_name, pyproject_models

    start = os.path.dirname(program.path) if program is not None and os.path.isabs(program.path) else None
    return (role in declared_models(program) or role in settings.overrides()
            or bool(os.environ.get(_env_name("LMP_MODEL_", role))) or role in pyproject_models(start))


def model_for(program: Program | None, role: str | None) -> tuple[str, dict[str, Any]]:
    """(model id, params) for a role; roles that nothing declares fall back to the default role."""
    from lmp.runtime.lm.roles import resolve_model

    settings = current()
    role = role or "default"
    if role != "default" and not _role_known(role, program, settings):
        role = "default"
    start = os.path.dirname(program.path) if program is not None and os.path.isabs(program.path) else None
    return resolve_model(role, declared_models(program), settings.overrides(), start=start)


def lm_for(program: Program | None, role: str | None) -> LM:
    """The LM object for a role under the current settings (built once per model id + params)."""
    settings = current()
    role_name = role or "default"
    if role_name in settings.lms:
        return settings.lms[role_name]
    if settings.lm is not None and role_name not in settings.overrides():
        return settings.lm
    model_id, params = model_for(program, role_name)
    cache = _cache_for(settings.cache)
    hist = settings.history if settings.history is not None else _DEFAULT_HISTORY
    key = (model_id, repr(sorted(params.items())), id(cache), id(hist))
    with _lock:
        lm = _lms.get(key)
    if lm is None:
        from lmp.runtime.lm.roles import make_lm

        lm = make_lm(model_id, params, cache=cache, history=hist)
        with _lock:
            lm = _lms.setdefault(key, lm)
    return lm
