"""Errors the runtime raises to users. Each message is one paragraph saying what to do, because
the CLI prints it as-is (no traceback unless --debug)."""

from __future__ import annotations

from lmp.secrets import scrub


class LmpRuntimeError(Exception):
    """A user-facing run-time error: missing or mistyped inputs, unknown modules, tool failures."""

    user_facing = True

    def __init__(self, *args: object) -> None:
        # Tool and input errors quote values; a key among them must not reach a terminal or a log.
        super().__init__(*(scrub(a) if isinstance(a, str) else a for a in args))


class LMOutputError(Exception):
    """The model's answer could not be parsed into an output field's type, even after a repair
    attempt and the JSON adapter fallback. Carries what a user needs to see why."""

    user_facing = True

    def __init__(self, field: str | None, expected_type: str, raw_output: str, message: str) -> None:
        self.field = field
        self.expected_type = expected_type
        # The model may repeat a key it saw (an echoed header, a prompt quoting one).
        self.raw_output = raw_output = scrub(raw_output)
        self.message = message = scrub(message)
        shown = raw_output if len(raw_output) <= 500 else raw_output[:500] + "…"
        where = f"field `{field}` ({expected_type})" if field else f"the outputs ({expected_type})"
        super().__init__(
            f"The model's answer could not be parsed into {where}: {message}. "
            f"Raw output: {shown!r}. Try a stronger model (--model default=ID), add demos with "
            "`lmp optimize`, or simplify the output type."
        )


class LMTruncatedError(LMOutputError):
    """The answer did not parse because the model was cut off by `max_tokens` (finish_reason "length"):
    the remedy is a larger budget, not a stronger model."""

    def __init__(self, field: str | None, expected_type: str, raw_output: str, max_tokens: int | None,
                 message: str, hint: str = "") -> None:
        self.max_tokens = max_tokens
        super().__init__(field, expected_type, raw_output, message)
        limit = f"max_tokens={max_tokens}" if max_tokens is not None else "the model's max_tokens"
        shown = raw_output if len(raw_output) <= 500 else raw_output[:500] + "…"
        where = f"field `{field}` ({expected_type})" if field else f"the outputs ({expected_type})"
        self.args = (
            f"The model's answer was cut off at {limit}; raise it (model param max_tokens, e.g. "
            f"`model default = \"local\" {{ max_tokens: {2 * (max_tokens or 256)} }}`, or the predictor option "
            f"max_tokens). Unfinished {where}: {message}. Raw output: {shown!r}." + (f" {hint}" if hint else ""),
        )


class AdapterParseError(ValueError):
    """Internal: one parse failure (the predictor decides whether to repair, fall back or raise)."""

    def __init__(self, field: str | None, expected_type: str, raw_output: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.expected_type = expected_type
        self.raw_output = raw_output
        self.message = message

    def to_output_error(self) -> LMOutputError:
        return LMOutputError(self.field, self.expected_type, self.raw_output, self.message)
