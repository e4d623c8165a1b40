"""`FakeLM`: a scripted model for unit tests (no network, no threads, deterministic)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .base import LM, LMError, LMResponse, Message, ModelType
from .constrain import Constraint, effective_mode, normalize_mode, summary
from .history import CallRecord, History
from .stream import Deltas, LMStream, split_tokens
from .tool_calls import normalize_tool_mode

Script = Iterable[str | LMResponse | BaseException] | Mapping[str, str] | Callable[[list[Message]], str]


def _text(content: Any) -> str:
    """A message's text: a content-part list (images) counts and matches by its text parts."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _words(text: Any) -> int:
    return len(_text(text).split())


class FakeLM(LM):
    """Answers from a script.

    - a list/iterable: answers in order (an exception instance in the list is raised at that turn);
      when exhausted, `default` is returned if given, else an `LMError` says the script ran out;
    - a dict: the first key that is a substring of the last user message wins (then `default`);
    - a callable: `answers(messages) -> str`.

    `errors` scripts failures for the first calls (e.g. `[LMRateLimitError("429")]`), before the
    answers. Every call is kept in `calls` (messages + params). Token counts are whitespace words.
    An `LMResponse` in the list is returned as scripted (e.g. `finish_reason="length"` for a cut-off
    answer). `constrain` ("grammar" | "json_schema") makes it act like a server that takes decoding
    constraints: predictors then send one (recorded in `calls[i]["params"]["constraint"]`).
    `tool_calls="native"` makes ReAct offer its tools natively (`calls[i]["params"]["tools"]`).
    `stream` sends the answer in word-sized chunks, `stream_delay` seconds apart.
    """

    def __init__(
        self,
        answers: Script = (),
        *,
        model: str = "fake",
        model_type: ModelType = "chat",
        default: str | None = None,
        errors: Iterable[BaseException] = (),
        history: History | None = None,
        constrain: str | None = None,
        tool_calls: str | None = None,
        stream_delay: float = 0.0,
    ) -> None:
        self.model = model
        self.stream_delay = stream_delay
        self.constrain = normalize_mode(constrain)
        self.tool_calls = normalize_tool_mode(tool_calls)
        self.model_type = model_type
        self.default = default
        self.history = history
        self.calls: list[dict[str, Any]] = []
        self._errors = list(errors)
        self._lock = threading.Lock()
        self._mapping: Mapping[str, str] | None = None
        self._func: Callable[[list[Message]], str] | None = None
        self._seq: list[str | LMResponse | BaseException] = []
        if isinstance(answers, Mapping):
            self._mapping = answers
        elif callable(answers):
            self._func = answers
        else:
            self._seq = list(answers)

    def constraint_mode(self, constraint: Constraint) -> str:
        return effective_mode(self.constrain or "none", "llama.cpp", constraint)

    def tool_mode(self) -> str:
        """"native" when built with tool_calls="native": ReAct then sends `tools` and reads scripted
        `LMResponse(tool_calls=...)` answers."""
        return self.tool_calls or "text"

    def _answer(self, messages: list[Message]) -> str | LMResponse:
        if self._func is not None:
            return self._func(messages)
        if self._mapping is not None:
            last_user = next((_text(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
            for key, value in self._mapping.items():
                if key in last_user:
                    return value
            if self.default is not None:
                return self.default
            raise LMError(
                f"FakeLM has no scripted answer for this prompt: no key of its dict ({', '.join(map(repr, self._mapping))}) "
                "occurs in the last user message. Add a matching key or pass default=... to FakeLM.",
                model=self.model,
            )
        with self._lock:
            if self._seq:
                item = self._seq.pop(0)
            elif self.default is not None:
                item = self.default
            else:
                raise LMError(
                    f"FakeLM ran out of scripted answers after {len(self.calls)} calls. "
                    "Give it more answers or pass default=... to FakeLM.",
                    model=self.model,
                )
        if isinstance(item, BaseException):
            raise item
        return item

    def complete(self, messages: list[Message], **params: Any) -> LMResponse:
        with self._lock:
            self.calls.append({"messages": list(messages), "params": dict(params)})
            error = self._errors.pop(0) if self._errors else None
        try:
            if error is not None:
                raise error
            answer = self._answer(messages)
        except BaseException as exc:
            if self.history is not None:
                self.history.add(CallRecord(model=self.model, messages=list(messages), error=str(exc)))
            raise
        if isinstance(answer, LMResponse):
            response = answer
        else:
            response = LMResponse(
                text=answer,
                model=self.model,
                prompt_tokens=sum(_words(m["content"]) for m in messages),
                completion_tokens=_words(answer),
                finish_reason="stop",
            )
        if self.history is not None:
            # Same bookkeeping as LiteLLM: lmp call options go to the record, not to "params".
            request = {k: v for k, v in params.items() if k not in ("predictor", "tags", "cache", "constraint")}
            constraint = params.get("constraint")
            sent = summary(constraint, self.constraint_mode(constraint)) if isinstance(constraint, Constraint) else None
            self.history.add(
                CallRecord.from_response(
                    list(messages),
                    response,
                    params=request,
                    predictor=params.get("predictor"),
                    tags=params.get("tags"),
                    constraint=sent,
                )
            )
        return response

    def stream(self, messages: list[Message], **params: Any) -> LMStream:
        """The scripted answer in word-sized chunks, `stream_delay` seconds apart (recorded like `complete`)."""

        def deltas() -> Deltas:
            response = self.complete(messages, **params)
            for piece in split_tokens(response.text):
                if self.stream_delay:
                    time.sleep(self.stream_delay)
                yield piece
            return response

        return LMStream(deltas())

    @property
    def last_messages(self) -> list[Message]:
        return self.calls[-1]["messages"] if self.calls else []
