"""Observe the requests an LM is about to send, for the editor playground's "copy as cURL".

History records keep a request's params without its decoding constraint (a grammar on every line of
history.jsonl would be noise), so they cannot rebuild the exact body. A caller that wants the body
wraps its run in `observe(fn)`; `LiteLLM` hands `fn` each request (constraint fields included) just
before it looks in the cache. The observer sees the LM object and must never read its key: callers
turn the key into a placeholder (lmp.lsp.playground).

A ContextVar, so only the run that asked is observed (threads started with a copied context too).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import Any

Observer = Callable[[Any, list[Any], dict[str, Any]], None]

_OBSERVER: contextvars.ContextVar[Observer | None] = contextvars.ContextVar("lmp_wiretap", default=None)
log = logging.getLogger("lmp.wiretap")


@contextlib.contextmanager
def observe(fn: Observer) -> Iterator[None]:
    token = _OBSERVER.set(fn)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


def emit(lm: Any, messages: list[Any], request: dict[str, Any]) -> None:
    """Called by the LM with the request it is about to send; a failing observer never fails the call."""
    fn = _OBSERVER.get()
    if fn is None:
        return
    try:
        fn(lm, list(messages), dict(request))
    except Exception:  # noqa: BLE001 - observing is best effort
        log.exception("request observer failed")
