"""The model-layer contract: messages, responses, the abstract `LM`, and the error classes.

Everything above the model layer (adapters, predictors, the interpreter, optimizers) talks only to
these names, so a scripted `FakeLM`, a litellm-backed model and the embedded local model are
interchangeable.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from lmp.secrets import scrub

if TYPE_CHECKING:
    from .stream import AsyncLMStream, LMStream

ModelType = Literal["chat", "text"]
Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    role: Role
    content: str


@dataclass
class LMResponse:
    """One completion. Token counts and cost are 0 when the provider does not report them."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cached: bool = False
    latency_s: float = 0.0
    # The provider's response as a plain dict (useful for debugging); None for fakes and cache hits
    # that did not keep it.
    raw: dict[str, Any] | None = field(default=None, repr=False)
    # Why generation ended, as the provider says: "stop" (end marker, stop sequence or grammar
    # complete), "length" (cut off by max_tokens), or None when unknown (fakes, old cache entries).
    finish_reason: str | None = None
    # Native tool calls the model made instead of (or beside) text: [{"id", "name", "arguments"}] with
    # `arguments` the JSON text as sent (see lm/tool_calls.py); None when it made none.
    tool_calls: list[dict[str, Any]] | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def truncated(self) -> bool:
        """Cut off by the token limit (OpenAI and llama.cpp say "length"; some providers "max_tokens")."""
        return self.finish_reason in ("length", "max_tokens")


class LM(ABC):
    """A language model. Subclasses implement `complete`; `acomplete` defaults to a worker thread.

    `model` is the id shown in history and used in cache keys; `model_type` says whether the
    model takes chat messages ("chat") or one flattened prompt ("text").
    """

    model: str
    model_type: ModelType = "chat"

    @abstractmethod
    def complete(self, messages: list[Message], **params: Any) -> LMResponse: ...

    async def acomplete(self, messages: list[Message], **params: Any) -> LMResponse:
        # Most backends are blocking HTTP clients; a thread keeps the event loop free without
        # every backend having to write an async twin. A dedicated pool, because asyncio's default
        # one has only cpu_count + 4 workers (6 on a 2-core machine), which would cap
        # `--concurrency 8` below 8 calls in flight. asyncio is imported here, not at module level:
        # it costs ~40 ms of `lmp --help` start-up.
        import asyncio
        import functools

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_executor(), functools.partial(self.complete, messages, **params))

    def stream(self, messages: list[Message], **params: Any) -> LMStream:
        """The answer as text deltas while it is generated (`for delta in lm.stream(...)`); the
        stream's `.response` is the complete `LMResponse` once exhausted. Models that cannot stream
        send the whole answer as one chunk (see `lmp.runtime.lm.stream`)."""
        from .stream import LMStream, single

        return LMStream(single(lambda: self.complete(messages, **params)))

    def astream(self, messages: list[Message], **params: Any) -> AsyncLMStream:
        """`async for delta in lm.astream(...)`: `stream` read on a worker thread."""
        from .stream import AsyncLMStream

        return AsyncLMStream(self.stream(messages, **params))

    def __call__(self, messages: list[Message] | str, **params: Any) -> LMResponse:
        """Convenience: `lm("hi")` sends one user message."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return self.complete(messages, **params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, model_type={self.model_type!r})"


_EXECUTOR: Any = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> Any:
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            from concurrent.futures import ThreadPoolExecutor

            _EXECUTOR = ThreadPoolExecutor(max_workers=64, thread_name_prefix="lmp-lm")
        return _EXECUTOR


# --- errors -------------------------------------------------------------------------------------
# Each message is a single paragraph that says what happened and what to do about it, because the
# CLI prints it as-is (no traceback unless --debug).


class LMError(Exception):
    """Base class of every model-layer error."""

    def __init__(self, message: str, *, model: str | None = None, status_code: int | None = None) -> None:
        # Providers echo keys in their errors; an LM error never carries one anywhere it is shown.
        super().__init__(scrub(message))
        self.model = model
        self.status_code = status_code


class LMConnectionError(LMError):
    """The model server could not be reached."""


class LMAuthError(LMError):
    """The provider rejected the API key (or none was given)."""


class LMTimeoutError(LMError):
    """The model did not answer within the timeout."""


class LMRateLimitError(LMError):
    """The provider kept answering 429 after all retries."""


class LMBadRequestError(LMError):
    """The provider rejected the request itself (unknown model, context too long, bad params)."""


def is_retryable(error: BaseException) -> bool:
    """Transient failures worth retrying: rate limits, timeouts, connection drops, 5xx."""
    if isinstance(error, LMRateLimitError | LMTimeoutError | LMConnectionError):
        return True
    if isinstance(error, LMError) and error.status_code is not None:
        return error.status_code >= 500
    return False
