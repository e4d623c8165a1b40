"""Streaming runs: partial typed values while the model writes, then the validated prediction.

    for p in prog.Answer.stream(question="..."):     # sync; `async for p in prog.Answer.astream(...)`
        if isinstance(p, lmp.Partial): show(p.reasoning, p.answer)   # None until parsed
        else: final = p                                                # the Prediction

How it works. `stream_module` runs the module on a worker thread with a `StreamSink` in its context.
Every predictor call made in that context goes through `complete()` below, which asks the model for
a stream (`LM.stream`) instead of one answer and feeds each chunk to a parser of the adapter's format
(`ChatPartial` for `[[ ## field ## ]]` sections, `JSONPartial` for the JSON adapter's object). After
every chunk that changes a visible value the consumer gets a `Partial`. The predictor itself does not
change: it still gets the complete answer back and parses it with the adapter, so the final value,
the repair ladder and every error are those of a non-streamed call.

What a partial value is:
- a `str` output shows its text so far (ChainOfThought's `reasoning` comes first, so it streams first);
- any other type is None until its section is complete (the next header arrives, or the JSON value
  is followed by `,` or `}`) and its text parses as that type; a literal union is set as soon as the
  text is exactly one member that no other member extends;
- a repair call (the ladder after a parse failure) starts its fields again from None.

Multi-step modules: `Partial.fields` are the module's outputs; each shows the field of the same name of
the most recent predictor call that has one (so the predictor whose result the module returns
streams into them), and outputs no predictor produces by that name stay None until the final value.
`Partial.call` holds every output of the predictor call running now (with `reasoning`), and
`Partial.predictor` its id, so the intermediate steps can be followed too. The last item is always
the module's validated `Prediction` (or the run's error is raised).
"""

from __future__ import annotations

import contextvars
import json
import queue
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import LiteralType, OptionalType, PrimType, Type
from lmp.runtime.adapters.chat import COMPLETED, HEADER
from lmp.runtime.adapters.parsing import ValueParseError, coerce, parse_text
from lmp.runtime.values import Prediction, Record, wrap

# ------------------------------------------------------------------ partial parsers



def _prefix_pattern(parts: list[str]) -> re.Pattern[str]:
    """A pattern matching every non-empty prefix of the sequence `parts` (each a regex), to the end."""
    pattern = ""
    for part in reversed(parts[1:]):
        pattern = f"(?:{part}{pattern})?"
    return re.compile(parts[0] + pattern + "$")


# The tail of a text that may be the start of a `[[ ## name ## ]]` header still being written.
_HEADER_START = _prefix_pattern([r"\[", r"\[", r"\s*", "#", "#", r"\s*", r"\w+", r"\s*", "#", "#", r"\s*", r"\]"])


def _streams_as_text(t: Type) -> bool:
    return isinstance(t, PrimType) and t.name == "str"


def _cut_header_start(text: str) -> str:
    """`text` without a trailing piece that may be a header (or the end marker) being written."""
    found = _HEADER_START.search(text, max(0, len(text) - 64))
    return text[:found.start()] if found else text


def _literal_done(text: str, t: Type) -> str | None:
    """The member `text` is, when no other member could still grow out of it."""
    inner = t.inner if isinstance(t, OptionalType) else t
    if not isinstance(inner, LiteralType):
        return None
    value = text.strip().strip("\"'`")
    if value not in inner.members:
        return None
    # A line break after the member ends it even when a longer member starts the same way.
    ended = "\n" in text.lstrip()[len(value):]
    if ended or not any(m != value and m.startswith(value) for m in inner.members):
        return value
    return None


def _typed(text: str, t: Type, name: str) -> Any:
    """`text` parsed as `t`, or None when it is not (yet) a valid value."""
    try:
        return wrap(parse_text(text, t, name, notes=[]), t)
    except (ValueParseError, ValueError, TypeError):
        return None


class ChatPartial:
    """Values of the `[[ ## field ## ]]` sections written so far."""

    def __init__(self, signature: Signature) -> None:
        self.outputs = list(signature.outputs)
        self.text = ""
        self._closed: dict[tuple[str, str], Any] = {}  # a closed section is parsed once, not per chunk

    def feed(self, delta: str) -> None:
        self.text += delta

    def _closed_value(self, body: str, f: Field) -> Any:
        key = (f.name, body)
        if key not in self._closed:
            self._closed[key] = _typed(body, f.type, f.name)
        return self._closed[key]

    def values(self, final: bool = False) -> dict[str, Any]:
        text = self.text.split(COMPLETED)[0] if COMPLETED in self.text else self.text
        ended = final or COMPLETED in self.text
        matches = list(HEADER.finditer(text))
        sections: dict[str, tuple[str, bool]] = {}
        for i, m in enumerate(matches):
            name = m.group(1)
            if name == "completed" or name in sections:
                continue
            closed = i + 1 < len(matches) or ended
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            body = text[m.end():end]
            sections[name] = (body if closed else _cut_header_start(body), closed)
        if final and not sections and len(self.outputs) == 1:
            sections[self.outputs[0].name] = (text, True)  # a lone answer without its header
        out: dict[str, Any] = {}
        for f in self.outputs:
            if f.name not in sections:
                out[f.name] = None
                continue
            body, closed = sections[f.name]
            if closed:
                out[f.name] = self._closed_value(body, f)
            elif _streams_as_text(f.type):
                out[f.name] = body.strip() or None
            else:
                out[f.name] = _literal_done(body, f.type)
        return out


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


_DECODER = json.JSONDecoder()
_PARTIAL_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?$")


def _open_string(body: str) -> str | None:
    """The decoded text of a JSON string whose closing quote has not arrived (`body` after the `"`)."""
    body = _PARTIAL_ESCAPE.sub("", body)
    try:
        value = json.loads('"' + body + '"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def partial_object(text: str, final: bool = False) -> tuple[dict[str, Any], str | None, str | None]:
    """The top-level members of a JSON object being written: (complete members, the key whose value
    is being written, that value's text so far when it is a string). A number (or true/false/null)
    counts as complete only once something follows it, since more digits may come."""
    done: dict[str, Any] = {}
    start = text.find("{")
    if start < 0:
        return done, None, None
    i, n = start + 1, len(text)
    while True:
        i = _skip_ws(text, i)
        if i >= n or text[i] == "}":
            return done, None, None
        if text[i] == ",":
            i += 1
            continue
        if text[i] != '"':
            return done, None, None
        try:
            key, i = _DECODER.raw_decode(text, i)
        except ValueError:
            return done, None, None
        i = _skip_ws(text, i)
        if i >= n or text[i] != ":":
            return done, None, None
        i = _skip_ws(text, i + 1)
        if i >= n:
            return done, str(key), None
        try:
            value, j = _DECODER.raw_decode(text, i)
        except ValueError:
            return done, str(key), _open_string(text[i + 1:]) if text[i] == '"' else None
        if text[i] not in '"[{' and not final and _skip_ws(text, j) >= n:
            return done, str(key), None
        done[str(key)] = value
        i = j


class JSONPartial:
    """Values of the JSON adapter's object written so far."""

    def __init__(self, signature: Signature) -> None:
        self.outputs = list(signature.outputs)
        self.text = ""

    def feed(self, delta: str) -> None:
        self.text += delta

    def values(self, final: bool = False) -> dict[str, Any]:
        done, open_key, open_text = partial_object(self.text, final)
        out: dict[str, Any] = {}
        for f in self.outputs:
            if f.name in done:
                try:
                    out[f.name] = wrap(coerce(done[f.name], f.type, f.name, notes=[]), f.type)
                except (ValueParseError, ValueError, TypeError):
                    out[f.name] = None
            elif f.name == open_key and open_text is not None and _streams_as_text(f.type):
                out[f.name] = open_text or None
            else:
                out[f.name] = None
        return out


def partial_parser(adapter: Any, signature: Signature) -> ChatPartial | JSONPartial:
    return JSONPartial(signature) if getattr(adapter, "name", "chat") == "json" else ChatPartial(signature)


# ------------------------------------------------------------------ what the consumer sees


class Partial(Record):
    """A module's outputs while it runs: each field is None until parsed (str fields grow as the
    text arrives). `call` holds every output of the predictor call running now (with `reasoning`),
    `predictor` its id, and `attempt` is "first", "repair" or "json" (the repair ladder)."""

    __slots__ = ("predictor", "call", "attempt")

    def __init__(self, fields: dict[str, Any], predictor: str | None, call: dict[str, Any],
                 attempt: str = "first") -> None:
        super().__init__(fields)
        object.__setattr__(self, "predictor", predictor)
        object.__setattr__(self, "call", dict(call))
        object.__setattr__(self, "attempt", attempt)

    done = False

    @property
    def reasoning(self) -> Any:
        """ChainOfThought's reasoning so far (the module's own `reasoning` output, if it has one)."""
        data = object.__getattribute__(self, "_data")
        return data["reasoning"] if "reasoning" in data else self.call.get("reasoning")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"Partial({inner}; predictor={self.predictor!r})"


class StreamCancelled(BaseException):  # noqa: N818 - not an error: the consumer stopped reading
    """Raised inside a streamed run when its consumer went away: the model call is abandoned.
    A BaseException so that no `except Exception` in a tool or the repair ladder swallows it."""


class StreamSink:
    """Collects the partial values of one streamed run and hands `Partial`s to `emit`."""

    def __init__(self, outputs: list[str], emit: Callable[[Partial], None]) -> None:
        self.outputs = outputs
        self.emit = emit
        self.values: dict[str, Any] = dict.fromkeys(outputs)
        self.call: dict[str, Any] = {}
        self.predictor: str | None = None
        self.attempt = "first"
        self.cancelled = False
        self._lock = threading.Lock()

    def begin(self, predictor: str | None, signature: Signature, adapter: Any, attempt: str | None) -> _Call:
        with self._lock:
            self.predictor = predictor
            self.attempt = attempt or "first"
            self.call = {f.name: None for f in signature.outputs}
            for name in self.call:
                if name in self.values:
                    self.values[name] = None
            self._emit()
        return _Call(self, partial_parser(adapter, signature), predictor)

    def update(self, predictor: str | None, values: dict[str, Any]) -> None:
        with self._lock:
            if predictor != self.predictor or values == self.call:
                return
            self.call = values
            for name, value in values.items():
                if name in self.values:
                    self.values[name] = value
            self._emit()

    def _emit(self) -> None:
        self.emit(Partial(dict(self.values), self.predictor, self.call, self.attempt))

    def cancel(self) -> None:
        self.cancelled = True


class _Call:
    def __init__(self, sink: StreamSink, parser: ChatPartial | JSONPartial, predictor: str | None) -> None:
        self.sink, self.parser, self.predictor = sink, parser, predictor

    def feed(self, delta: str) -> None:
        self.parser.feed(delta)
        self.sink.update(self.predictor, self.parser.values())

    def end(self) -> None:
        self.sink.update(self.predictor, self.parser.values(final=True))


_SINK: contextvars.ContextVar[StreamSink | None] = contextvars.ContextVar("lmp_stream_sink", default=None)


def complete(lm: Any, signature: Signature, adapter: Any, messages: list[Any], **params: Any) -> Any:
    """`lm.complete(messages, **params)`, streamed into the run's sink when the run is streamed."""
    sink = _SINK.get()
    stream = getattr(lm, "stream", None)
    if sink is None or not callable(stream):
        return lm.complete(messages, **params)
    if sink.cancelled:
        raise StreamCancelled
    call = sink.begin(params.get("predictor"), signature, adapter, (params.get("tags") or {}).get("attempt"))
    deltas = stream(messages, **params)
    try:
        for delta in deltas:
            if sink.cancelled:
                raise StreamCancelled
            call.feed(delta)
    finally:
        if deltas.response is None:
            deltas.close()  # stopped early: abandon the request
    call.end()
    return deltas.response


# ------------------------------------------------------------------ running a module as a stream


class _Done:
    def __init__(self, value: Prediction) -> None:
        self.value = value


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class StreamedRun:
    """One streamed module run, driven by whoever owns the thread (the HTTP server runs it in its
    pool). The inputs are bound at construction, so bad inputs raise before any model call; `run()`
    blocks, handing every `Partial` to `emit`, and returns the validated `Prediction`; `cancel()`
    (from any thread) ends it at the model's next chunk."""

    def __init__(self, interpreter: Any, module: str, inputs: dict[str, Any],
                 emit: Callable[[Partial], None]) -> None:
        self.interpreter = interpreter
        self.module = interpreter.module(module)
        self.env = interpreter.bind_inputs(self.module, inputs)
        self.sink = StreamSink([f.name for f in self.module.outputs], emit)

    def run(self) -> Prediction:
        token = _SINK.set(self.sink)
        try:
            result: Prediction = self.interpreter.call_module(self.module, self.env, depth=0)
            return result
        finally:
            _SINK.reset(token)

    def cancel(self) -> None:
        self.sink.cancel()


def _start(interpreter: Any, module: str, inputs: dict[str, Any], put: Callable[[Any], None]) -> StreamSink:
    """Start `module` on a thread of its own (with the caller's settings context); every partial,
    then `_Done` or `_Failed`, goes to `put`."""
    run = StreamedRun(interpreter, module, inputs, put)

    def work() -> None:
        try:
            result = run.run()
        except StreamCancelled:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(_Failed(exc))
            return
        put(_Done(result))

    ctx = contextvars.copy_context()
    threading.Thread(target=ctx.run, args=(work,), daemon=True, name=f"lmp-stream-{module}").start()
    return run.sink


def stream_module(interpreter: Any, module: str, inputs: dict[str, Any]) -> Iterator[Partial | Prediction]:
    """`Partial`s of `module` run on `inputs`, then its `Prediction`. Bad inputs raise at once."""
    items: queue.Queue[Any] = queue.Queue()
    sink = _start(interpreter, module, inputs, items.put)
    return _drain(items, sink)


def _drain(items: queue.Queue[Any], sink: StreamSink) -> Iterator[Partial | Prediction]:
    try:
        while True:
            item = items.get()
            if isinstance(item, _Done):
                yield item.value
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        sink.cancel()  # a consumer that stops early: the model call ends at its next chunk


def astream_module(interpreter: Any, module: str, inputs: dict[str, Any]) -> AsyncIterator[Partial | Prediction]:
    """The asyncio form of `stream_module` (`async for p in ...`); must be called in a running loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    items: asyncio.Queue[Any] = asyncio.Queue()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(items.put_nowait, item)
        except RuntimeError:  # the loop is gone: nobody is reading any more
            pass

    sink = _start(interpreter, module, inputs, put)
    return _adrain(items, sink)


async def _adrain(items: Any, sink: StreamSink) -> AsyncIterator[Partial | Prediction]:
    try:
        while True:
            item = await items.get()
            if isinstance(item, _Done):
                yield item.value
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        sink.cancel()
