"""`LiteLLM.stream`: the answer as it is generated, with the policies of `LiteLLM.complete`.

Same decoding constraint (a server that rejects it is called again unconstrained), same cache key (a
hit is replayed as one chunk; a streamed answer is stored once it is complete, never a partial one),
same retries and fallbacks, but only until the first chunk has been given out: after that another
attempt would repeat text the caller already has, so the error is raised instead. The history
record is written when the stream ends, with usage, cost, finish_reason, the total latency and
`tags.first_chunk_s` (time to the first chunk).

Two transports, as for `complete`: OpenAI-compatible servers with an api_base (the embedded model,
vLLM, llama.cpp, Ollama) get `stream: true` over lmp's HTTP client and answer with server-sent
events; every other model goes through `litellm.completion(stream=True)`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import wiretap
from .base import LM, LMError, LMResponse, Message
from .constrain import Constraint, is_rejection, remember_rejection, request_fields, summary
from .stream import ChunkReader, Deltas, LMStream, StreamError, replay

if TYPE_CHECKING:
    from collections.abc import Generator

# Asks OpenAI-style servers for a last chunk with the usage (vLLM, llama.cpp, OpenAI, litellm).
STREAM_OPTIONS = {"include_usage": True}


class StreamingLiteLLM:
    """Mixed into `LiteLLM` (which provides the attributes used here)."""

    def stream(self, messages: list[Message], **params: Any) -> LMStream:
        return LMStream(self._stream_constrained(messages, params))

    # -- policy -----------------------------------------------------------------------------------

    def _stream_constrained(self, messages: list[Message], params: dict[str, Any]) -> Deltas:
        me: Any = self
        constraint = params.pop("constraint", None)
        if not isinstance(constraint, Constraint):
            return (yield from self._stream_complete(messages, params, None))
        mode = me.constraint_mode(constraint)
        fields = request_fields(constraint, mode, me.server_kind(), strict=True)
        if not fields:
            return (yield from self._stream_complete(messages, params, summary(constraint, "none")))
        source = self._stream_complete(messages, {**params, **fields}, summary(constraint, mode))
        try:
            first = next(source)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except LMError as exc:
            # A server without support refuses the request before sending anything: safe to resend.
            if exc.status_code not in (400, 422, 500) or not is_rejection(str(exc), fields):
                raise
            remember_rejection(me.api_base, me.model, mode, str(exc))
            return (yield from self._stream_complete(messages, params, summary(constraint, "none", fallback=True)))
        yield first
        return (yield from source)

    def _stream_complete(self, messages: list[Message], params: dict[str, Any],
                         constraint: dict[str, Any] | None) -> Deltas:
        from .history import CallRecord
        from .litellm_lm import _shown_params, import_litellm

        me: Any = self
        params = dict(params)
        rollout_id = params.pop("rollout_id", None)
        use_cache = params.pop("cache", True)
        predictor = params.pop("predictor", None)
        tags = dict(params.pop("tags", None) or {})
        request = {**me.params, **params}
        wiretap.emit(me, messages, request)
        me._bump("calls")

        key = None
        if me.cache is not None and use_cache is not False and me.cache.enabled:
            # The key of a non-streamed call: both kinds of call fill and read the same entry.
            key = me.cache.key(me.name, messages, {**request, "model_type": me.model_type}, rollout_id)
            hit = me.cache.get(key)
            if hit is not None:
                me._bump("cache_hits")
                me._record(messages, hit, request, predictor, tags, constraint)
                return (yield from replay(hit))

        if not all(me.uses_http(c) for c in (me.model, *me.fallbacks) if isinstance(c, str)):
            import_litellm()  # outside the timer, as in complete()
        start = time.perf_counter()
        first_at: float | None = None
        attempts = 0
        errors: list[LMError] = []
        response: LMResponse | None = None
        for index, candidate in enumerate([me.model, *me.fallbacks]):
            emitted = False
            source: Any = (candidate.stream(messages, **request) if isinstance(candidate, LM)
                           else self._stream_with_retries(candidate, messages, request))
            try:
                while True:
                    try:
                        delta = next(source)
                    except StopIteration as stop:
                        if isinstance(candidate, LM):
                            response, n = source.response, 1
                        else:
                            response, n = stop.value
                        attempts += n
                        break
                    if first_at is None:
                        first_at = time.perf_counter() - start
                    emitted = True
                    yield delta
            except LMError as exc:
                errors.append(exc)
                attempts += getattr(exc, "attempts", 1 if isinstance(candidate, LM) else 0)
                if emitted:
                    break  # part of this answer is already out; another model cannot continue it
                continue
            except GeneratorExit:
                # The caller stopped reading: the request is abandoned, and history says so.
                if me.history is not None:
                    me.history.add(CallRecord(model=me.name, messages=list(messages),
                                              error="stream closed by the caller before the answer was complete",
                                              latency_s=time.perf_counter() - start, predictor=predictor,
                                              params=_shown_params(request),
                                              tags={**tags, "streamed": True, "cancelled": True},
                                              constraint=constraint))
                raise
            finally:
                source.close()
            assert response is not None
            if index > 0:
                me._bump("fallbacks_used")
                tags["fallback"] = candidate if isinstance(candidate, str) else candidate.model
            response.latency_s = time.perf_counter() - start
            tags["attempts"] = attempts
            tags["streamed"] = True
            if first_at is not None:
                tags["first_chunk_s"] = round(first_at, 4)
            if key is not None and me.cache is not None:
                me.cache.put(key, response)
            me._record(messages, response, request, predictor, tags, constraint)
            return response

        error = errors[0] if len(errors) == 1 else me._combine(errors)
        if me.history is not None:
            tags["attempts"] = attempts
            tags["streamed"] = True
            me.history.add(CallRecord(model=me.name, messages=list(messages), error=str(error),
                                      latency_s=time.perf_counter() - start, predictor=predictor,
                                      params=_shown_params(request), tags=tags, constraint=constraint))
        raise error

    def _stream_with_retries(self, model: str, messages: list[Message],
                             request: dict[str, Any]) -> Generator[str, None, tuple[LMResponse, int]]:
        me: Any = self
        me._check_credentials(model)
        attempt = 0
        while True:
            attempt += 1
            me._bump("attempts")
            emitted = False
            source = self._stream_once(model, messages, request)
            try:
                while True:
                    try:
                        delta = next(source)
                    except StopIteration as stop:
                        return stop.value, attempt
                    emitted = True
                    yield delta
            except LMError as exc:
                if emitted:
                    exc.attempts = attempt  # type: ignore[attr-defined]
                    raise
                me._after_failed_attempt(model, exc, attempt)
            finally:
                source.close()

    # -- transports -------------------------------------------------------------------------------

    def _stream_once(self, model: str, messages: list[Message], request: dict[str, Any]) -> Deltas:
        me: Any = self
        if me.uses_http(model):
            return (yield from self._stream_http(model, messages, request))
        return (yield from self._stream_litellm(model, messages, request))

    def _stream_http(self, model: str, messages: list[Message], request: dict[str, Any]) -> Deltas:
        from .litellm_lm import http_error, lm_error
        from .openai_http import HTTPFailure, post_stream, served_name
        from .transcript import flatten_messages, merge_stop

        me: Any = self
        served = served_name(model)
        body: dict[str, Any] = {**request, "model": served, "stream_options": STREAM_OPTIONS}
        timeout = request.get("timeout", me.timeout)
        chat = me.model_type == "chat"
        if chat:
            body["messages"] = list(messages)
            path = "/chat/completions"
        else:
            body["prompt"] = flatten_messages(messages)
            body["stop"] = merge_stop(body.get("stop"))
            path = "/completions"
        reader = ChunkReader(chat=chat)
        events = post_stream(me.api_base, path, body, api_key=me._http_key(), timeout=timeout)
        try:
            for data in events:
                piece = reader.feed(data)
                if piece:
                    yield piece
        except HTTPFailure as failure:
            raise http_error(failure, model, me.api_base, timeout) from failure
        except StreamError as exc:
            raise lm_error("server", model, me.api_base, timeout, 500, str(exc)) from exc
        finally:
            events.close()
        prompt_tokens, completion_tokens = reader.tokens()
        return LMResponse(
            text=reader.text,
            model=me.name if model == me.model else model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=me._http_cost(served, prompt_tokens, completion_tokens),
            raw={"streamed": True, "chunks": reader.chunks, "last_event": reader.last},
            finish_reason=reader.finish_reason,
        )

    def _stream_litellm(self, model: str, messages: list[Message], request: dict[str, Any]) -> Deltas:
        from .litellm_lm import _to_dict, import_litellm, lm_error, map_error
        from .transcript import flatten_messages, merge_stop

        me: Any = self
        litellm = import_litellm()
        kwargs = me._litellm_kwargs(request)
        kwargs["stream"] = True
        kwargs["stream_options"] = STREAM_OPTIONS
        chat = me.model_type == "chat"
        reader = ChunkReader(chat=chat)
        chunks: list[Any] = []
        try:
            if chat:
                raw = litellm.completion(model=model, messages=list(messages), **kwargs)
            else:
                kwargs["stop"] = merge_stop(kwargs.get("stop"))
                raw = litellm.text_completion(model=model, prompt=flatten_messages(messages), **kwargs)
            for chunk in raw:
                chunks.append(chunk)
                piece = reader.feed(_to_dict(chunk) or {})
                if piece:
                    yield piece
        except StreamError as exc:
            raise lm_error("server", model, me.api_base, kwargs.get("timeout"), 500, str(exc)) from exc
        except LMError:
            raise
        except Exception as exc:  # noqa: BLE001 - every provider failure is translated, as in complete()
            raise map_error(exc, model, me.api_base, kwargs.get("timeout")) from exc
        prompt_tokens, completion_tokens = reader.tokens()
        cost = 0.0
        built = None
        try:
            built = litellm.stream_chunk_builder(chunks, messages=list(messages)) if chunks and chat else None
        except Exception:  # noqa: BLE001 - the builder only prices the call; the text is already whole
            built = None
        if built is not None:
            usage = getattr(built, "usage", None)
            if not reader.usage_seen and usage is not None:
                prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            cost = me._cost(built, model)
        return LMResponse(
            text=reader.text,
            model=me.name if model == me.model else model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            raw={"streamed": True, "chunks": reader.chunks, "last_event": reader.last},
            finish_reason=reader.finish_reason,
        )
