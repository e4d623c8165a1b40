"""The JSON-RPC protocol the language server runs on: pygls's, without its per-notification leak.

pygls 2.x (checked on 2.0-2.1.1) keeps a future per handled message in
`JsonRPCProtocol._request_futures`, so that a `$/cancelRequest` can find it. `_execute_handler`
stores it for every coroutine, thread and generator handler; only `_send_handler_result` (the
completion callback of a *request*) removes it. Notifications get a fresh uuid4 id and
`_check_handler_result` as callback, which never removes the entry, and the steps of pygls's own
generator handlers (`textDocument/didChange`, `didOpen`, `didClose`, `initialize`, `shutdown`, ...)
get one more uuid entry each. Every keystroke (one `didChange`) so left a finished
`concurrent.futures.Future` (with its Condition and lock) and a uuid string behind: ~3.6 KB per edit,
measured with bench/lsp_soak.py, and `shutdown` walks all of them.

`LmpProtocol` wraps each completion callback so that the entry of a finished handler is removed,
whatever kind of message it served. Requests still find their entry while they run (cancellation
works as before), and removing an entry pygls already removed is a no-op, so this stays correct if
pygls fixes the leak. `leak_guard_applies` says whether the hook this relies on exists.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)

_EXPECTED_PARAMS = ["self", "msg_id", "handler", "callback", "args", "kwargs"]


def leak_guard_applies() -> bool:
    """Whether pygls's `_execute_handler` and `_request_futures` are the ones this module wraps."""
    hook = getattr(LanguageServerProtocol, "_execute_handler", None)
    if hook is None:
        return False
    try:
        params = list(inspect.signature(hook).parameters)
    except (TypeError, ValueError):
        return False
    return params == _EXPECTED_PARAMS


class LmpProtocol(LanguageServerProtocol):
    """pygls's LSP protocol; a handler's bookkeeping entry is dropped once the handler finishes."""

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Callable[[Future[Any]], Any],
                         args: tuple[Any, ...] | None = None, kwargs: dict[str, Any] | None = None) -> None:
        def finished(future: Future[Any]) -> None:
            try:
                callback(future)
            finally:
                # Only this handler's own entry: a client may reuse a finished request's id.
                futures = self._request_futures
                if futures.get(msg_id) is future:
                    futures.pop(msg_id, None)

        super()._execute_handler(msg_id, handler, finished, args, kwargs)

    def pending(self) -> int:
        """How many handler entries pygls holds (in flight, once the leak is plugged)."""
        return len(self._request_futures)


def protocol_class() -> type[LanguageServerProtocol]:
    if leak_guard_applies():
        return LmpProtocol
    log.warning("pygls's JSON-RPC internals changed (no _execute_handler(msg_id, handler, callback, args, kwargs)); "
                "running without lmp's guard against its per-notification memory growth")
    return LanguageServerProtocol
