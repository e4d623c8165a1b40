"""Streaming at the model layer: an answer as text deltas, then the complete `LMResponse`.

`LM.stream(messages, **params)` returns an `LMStream`: iterate it for the text as it is generated;
once exhausted, `.response` is the same `LMResponse` a `complete` call would have returned (text,
usage, cost, finish_reason), already recorded in history and stored in the cache. A cache hit is
replayed as one chunk. `LM.astream` is the asyncio twin (`async for delta in lm.astream(...)`).

Why a generator with a return value rather than a callback: the caller decides the pace (an HTTP
response is read only as fast as it is consumed) and closing the stream early (`.close()`, or
leaving a `for` loop over a closed generator) closes the HTTP response behind it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from typing import Any

from .base import LMResponse

Deltas = Generator[str, None, LMResponse]

# Whitespace-separated pieces with their trailing whitespace: what the fakes send as "tokens".
_PIECES = re.compile(r"\s+|\S+\s*")


def split_tokens(text: str) -> list[str]:
    """`text` cut into word-sized pieces that join back to exactly `text`."""
    return _PIECES.findall(text)


class LMStream:
    """Text deltas of one model call; `.response` is the complete `LMResponse` once exhausted."""

    def __init__(self, source: Deltas) -> None:
        self._source = source
        self.response: LMResponse | None = None
        self.chunks = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.response is not None:
            raise StopIteration
        try:
            delta = next(self._source)
        except StopIteration as stop:
            self.response = stop.value
            raise StopIteration from None
        self.chunks += 1
        return delta

    def collect(self, on_delta: Callable[[str], None] | None = None) -> LMResponse:
        """Read the rest of the stream (passing each delta to `on_delta`); the complete response."""
        for delta in self:
            if on_delta is not None:
                on_delta(delta)
        assert self.response is not None
        return self.response

    def close(self) -> None:
        """Stop early: the request behind the stream is abandoned (its HTTP response closed)."""
        self._source.close()


def replay(response: LMResponse) -> Deltas:
    """A finished answer as a stream: one chunk (cache hits, models that cannot stream)."""
    if response.text:
        yield response.text
    return response


def single(call: Callable[[], LMResponse]) -> Deltas:
    """A stream for a model without streaming: the whole answer as one chunk once `call` returns."""
    return (yield from replay(call()))


class AsyncLMStream:
    """`async for delta in lm.astream(...)`: the sync stream read on a worker thread, chunk by chunk,
    so the event loop stays free while the model generates."""

    def __init__(self, stream: LMStream) -> None:
        self._stream = stream

    @property
    def response(self) -> LMResponse | None:
        return self._stream.response

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        import asyncio

        from .base import _executor

        loop = asyncio.get_running_loop()
        delta = await loop.run_in_executor(_executor(), _next_or_none, self._stream)
        if delta is None:
            raise StopAsyncIteration
        return delta

    async def collect(self) -> LMResponse:
        async for _ in self:
            pass
        assert self._stream.response is not None
        return self._stream.response

    async def aclose(self) -> None:
        self._stream.close()


def _next_or_none(stream: LMStream) -> str | None:
    # StopIteration cannot cross a Future, so the end of the stream travels as None.
    return next(stream, None)


# ------------------------------------------------------------------ OpenAI-style server-sent events


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of an OpenAI-style event stream (`data: {...}` lines up to `data: [DONE]`).

    Comment lines, `event:` names and blank separators are skipped; a payload that is not JSON is an
    error the caller reports with the server's words."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if not payload:
            continue
        if payload == "[DONE]":
            return
        try:
            data = json.loads(payload)
        except ValueError:
            raise ValueError(f"a streamed event is not JSON: {payload[:200]!r}") from None
        if isinstance(data, dict):
            yield data


class ChunkReader:
    """Accumulates OpenAI-style stream chunks (or a whole non-streamed answer, which a server that
    ignores `stream` sends): the text, finish_reason and usage of the call."""

    def __init__(self, *, chat: bool) -> None:
        self.chat = chat
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.usage_seen = False
        self.chunks = 0
        self.last: dict[str, Any] | None = None
        self._leading = not chat  # text completions: the space after "Assistant:" is dropped

    def feed(self, data: dict[str, Any]) -> str:
        """Take one payload; the new text it carries ('' for none)."""
        self.last = data
        error = data.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise StreamError(str(message or error))
        usage = data.get("usage")
        if isinstance(usage, dict) and (usage.get("prompt_tokens") or usage.get("completion_tokens")):
            self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            self.completion_tokens = int(usage.get("completion_tokens") or 0)
            self.usage_seen = True
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return ""
        first = choices[0]
        reason = first.get("finish_reason")
        if isinstance(reason, str):
            self.finish_reason = reason
        piece: Any
        if self.chat:
            holder = first.get("delta") or first.get("message") or {}
            piece = holder.get("content") if isinstance(holder, dict) else None
        else:
            piece = first.get("text")
        if not isinstance(piece, str) or not piece:
            return ""
        if self._leading:
            piece = piece.lstrip(" ")
            if not piece:
                return ""
            self._leading = False
        self.chunks += 1
        self.parts.append(piece)
        return piece

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens: the server's usage; without one, the completion is counted in
        content chunks (servers send about one token per chunk) and the prompt is unknown (0)."""
        if self.usage_seen:
            return self.prompt_tokens, self.completion_tokens
        return 0, self.chunks


class StreamError(Exception):
    """The server reported an error inside the event stream (after answering 200)."""
