"""How uncaught errors reach a user: one paragraph, no traceback unless `--debug`."""

from __future__ import annotations

from lmp.secrets import scrub


def render_error(exc: BaseException) -> str:
    name = type(exc).__name__
    # Any error may quote a key (a tool's exception, a library's message): never on the terminal.
    text = scrub(str(exc).strip()) or name
    if name in {"LMError", "LMConnectionError", "LMAuthError", "LMTimeoutError", "LMRateLimitError",
                "LMOutputError", "LmpRuntimeError", "ProgramError", "StateError"} or getattr(
            exc, "user_facing", False):
        return f"error: {text}"
    return f"error: {name}: {text}\n(run with `lmp --debug ...` for the traceback)"
