"""Secret scrubbing: the one place that knows what a credential looks like.

Every text lmp writes or returns where a key could end up (diagnostics, history records, batch and
evaluation output, checkpoints, server error bodies and logs, LM errors) passes through `scrub`.
It masks three kinds of secret:

1. values lmp was given: every key registered with `register_secret` (model params `api_key`,
   `[tool.lmp.models]` params, headers), whatever their shape, because a provider may echo them
   back in an error;
2. values of environment variables with credential-like names (`OPENAI_API_KEY`, `HF_TOKEN`, ...);
3. well-known key shapes (`sk-...`, `AKIA...`, `ghp_...`, `xox?-...`, `Bearer ...`) and long
   key-looking values written next to a key/token/secret name.

This module sits below every other lmp module (it imports nothing from lmp), so any layer can use it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MASK = "***"
# Shorter values are too likely to be ordinary words to be replaced everywhere they occur.
MIN_SECRET_LENGTH = 8

_SHAPES = "|".join([
    r"\bsk-[A-Za-z0-9_\-]{12,}",  # OpenAI / Anthropic style (sk-, sk-proj-, sk-ant-)
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",  # GitHub tokens
    r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack tokens
    r"\bhf_[A-Za-z0-9]{20,}",  # Hugging Face tokens
    r"(?i:\bbearer\s+[A-Za-z0-9_\-.=+/~]{8,})",
    r"(?i:\bbasic\s+[A-Za-z0-9+/]{12,}={0,2})",
])  # one alternation: a single pass over the text
# `NAME: value` / `NAME=value` / `"NAME": "value"` where NAME ends in key/token/secret/password.
# The value must look like a key (long, letters and digits mixed) so that `"key": "category"` or
# `max_tokens: 512` are left alone. Matching starts at the keyword (the rest of the name is kept
# as it is), so the cost stays linear in the text whatever it holds.
_NAMED = (
    r"""(?i)((?:key|token|secret|password|passwd|credentials?|authorization)["']?\s{0,8}[:=]\s{0,8}["']?)"""
    r"([A-Za-z0-9_\-./+=]{16,})"
)
_SECRET_NAME_PARTS = {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "APIKEY", "CREDENTIAL", "CREDENTIALS"}

_lock = threading.Lock()
_registered: set[str] = set()


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a setting / header / variable name holds a credential (`api_key`, `OPENAI_API_KEY`,
    `Authorization`, `x-api-key`, `aws_secret_access_key`, `token`, ...)."""
    n = name.upper().replace("-", "_")
    if n in ("AUTHORIZATION", "PROXY_AUTHORIZATION") or n.endswith("APIKEY"):
        return True
    return any(part in _SECRET_NAME_PARTS for part in n.split("_"))


def register_secret(value: object) -> None:
    """Remember a credential lmp was given, so that `scrub` masks it wherever it shows up later."""
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    parts = [value]
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() in ("bearer", "basic", "token"):
        parts.append(rest.strip())  # "Bearer KEY": the key alone shows up in echoes too
    with _lock:
        _registered.update(p for p in parts if len(p) >= MIN_SECRET_LENGTH)
    install_log_scrubbing()


def register_secrets_in(params: Mapping[str, Any] | None) -> None:
    """Register every credential among a model's params (`api_key`, `headers: {Authorization: ...}`)."""
    for name, value in (params or {}).items():
        if isinstance(value, Mapping):
            register_secrets_in(value)
        elif is_secret_name(str(name)):
            if isinstance(value, str):
                register_secret(value)
            elif isinstance(value, list | tuple):
                for item in value:
                    register_secret(item)


def forget_secrets() -> None:
    """Forget registered values (tests)."""
    with _lock:
        _registered.clear()


@lru_cache(maxsize=4)
def _env_secrets_of(snapshot: tuple[tuple[Any, Any], ...]) -> frozenset[str]:
    out = set()
    for k, v in snapshot:
        name = k.decode(errors="replace") if isinstance(k, bytes) else str(k)
        value = v.decode(errors="replace") if isinstance(v, bytes) else str(v)
        if len(value) >= MIN_SECRET_LENGTH and is_secret_name(name):
            out.add(value)
    return frozenset(out)


def _env_secrets() -> frozenset[str]:
    # The environment can change at any time (tests, `os.environ[...] = ...`), so it is read on
    # every call; the raw mapping makes that a cheap tuple instead of decoding every entry.
    raw = getattr(os.environ, "_data", None)
    snapshot = tuple(raw.items()) if isinstance(raw, dict) else tuple(os.environ.items())
    return _env_secrets_of(snapshot)


@lru_cache(maxsize=8)
def _ordered(values: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(values, key=len, reverse=True))


def known_secrets() -> tuple[str, ...]:
    """Every value `scrub` masks verbatim, longest first (a key containing another is masked whole)."""
    with _lock:
        values = frozenset(_registered)
    return _ordered(values | _env_secrets())


def _named(m: re.Match[str]) -> str:
    value = m.group(2)
    if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
        return m.group(1) + MASK
    return m.group(0)


def scrub_known(text: str) -> str:
    """`text` with every key lmp was given (or found in a credential-named variable) replaced by `***`.
    For model answers, which may legitimately hold key-shaped strings but never one of our keys."""
    if not text:
        return text
    for value in known_secrets():
        if value in text:
            text = text.replace(value, MASK)
    return text


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    # Compiled on first use (~1 ms): a clean `lmp check` imports this module but has nothing to scrub.
    return re.compile(_SHAPES), re.compile(_NAMED)


def scrub(text: str) -> str:
    """`text` with every known or credential-looking value replaced by `***`."""
    if not text:
        return text
    text = scrub_known(text)
    shapes, named = _patterns()
    text = shapes.sub(MASK, text)
    return named.sub(_named, text)


def scrub_data(obj: Any, *, drop_secret_keys: bool = False) -> Any:
    """A copy of JSON-like data with every string scrubbed; with `drop_secret_keys`, entries whose
    name holds a credential (`api_key`, `headers`, `authorization`, ...) are left out altogether."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if drop_secret_keys and (is_secret_name(str(k)) or str(k).lower() in ("headers", "extra_headers")):
                continue
            out[k] = scrub_data(v, drop_secret_keys=drop_secret_keys)
        return out
    if isinstance(obj, list | tuple):
        return [scrub_data(v, drop_secret_keys=drop_secret_keys) for v in obj]
    return obj


# ------------------------------------------------------------------ logging

_installed = False
_previous_factory: Any = None


def install_log_scrubbing() -> None:
    """Scrub every log record of this process as it is made (message, arguments and traceback), so
    no handler, whoever configured it, ever sees a key. Idempotent."""
    global _installed, _previous_factory
    import logging  # here, not at the top: ~4 ms that `lmp check` (via diagnostics) has no use for

    with _lock:
        if _installed:
            return
        _installed = True
        _previous_factory = logging.getLogRecordFactory()
    previous = _previous_factory

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's own error to report
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters use exc_text when it is set: format the traceback now, scrubbed.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
