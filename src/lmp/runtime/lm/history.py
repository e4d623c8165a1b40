"""Call history: what was sent and received on every model call, for `lmp history` and `--trace`.

Records are kept in memory and, when a file is given, appended to a JSONL file (one record per line,
written under a lock and flushed per record so concurrent threads never interleave lines). Secrets
are scrubbed before a record is stored anywhere.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lmp.secrets import scrub as scrub  # re-exported: lmp.runtime.lm.scrub
from lmp.secrets import scrub_data

from .base import LMResponse, Message
from .cache import default_cache_dir
from .tool_calls import describe_tools

HISTORY_FILENAME = "history.jsonl"


def _scrub_obj(obj: Any) -> Any:
    # Records keep no credential-named field at all (api_key, headers, ...), and every string is
    # masked: a provider may echo a key back in an error or a prompt may quote one.
    return scrub_data(obj, drop_secret_keys=True)


@dataclass
class CallRecord:
    model: str
    messages: list[Message]
    response: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None
    predictor: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    # How the parser read the response into the declared types (`confidence: "90%" -> 0.9 (percent)`),
    # attached after the call by `note_coercions`.
    coercions: list[str] = field(default_factory=list)
    # The decoding constraint sent ({"kind": "grammar"|"json_schema"|"none", "hash": ...}) and why the
    # answer ended ("stop", or "length" when cut off by max_tokens).
    constraint: dict[str, Any] | None = None
    finish_reason: str | None = None
    # Native tool calls: those the model made ([{"id", "name", "arguments"}]) and the tools it was
    # offered ({"protocol": "native", "names": [...]}); None for text-protocol calls.
    tool_calls: list[dict[str, Any]] | None = None
    tools: dict[str, Any] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    time: float = field(default_factory=time.time)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_response(
        cls,
        messages: list[Message],
        response: LMResponse,
        *,
        params: dict[str, Any] | None = None,
        predictor: str | None = None,
        tags: dict[str, Any] | None = None,
        constraint: dict[str, Any] | None = None,
    ) -> CallRecord:
        return cls(
            model=response.model,
            messages=messages,
            response=response.text,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            cost=response.cost,
            latency_s=response.latency_s,
            cached=response.cached,
            predictor=predictor,
            params=dict(params or {}),
            tags=dict(tags or {}),
            constraint=constraint,
            finish_reason=response.finish_reason,
            tool_calls=response.tool_calls,
            tools=describe_tools(params or {}),
        )


@dataclass
class Totals:
    calls: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, r: CallRecord) -> None:
        self.calls += 1
        self.cached += int(r.cached)
        self.errors += int(r.error is not None)
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.cost += r.cost or 0.0
        self.latency_s += r.latency_s or 0.0


class History:
    """Thread-safe in-memory list of `CallRecord`s, optionally mirrored to a JSONL file."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, max_records: int | None = 100_000,
        source: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.max_records = max_records
        # What made the calls stored here ("run", "test", "playground", ...): every record gets it as
        # `tags["source"]`, so one history.jsonl tells `lmp run` calls from editor and test runs.
        self.source = source
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()

    @classmethod
    def default_file(cls) -> Path:
        """`history.jsonl` in the cache folder (`$LMP_CACHE_DIR`, else `$XDG_CACHE_HOME/lmp` or `~/.cache/lmp`)."""
        return default_cache_dir() / HISTORY_FILENAME

    def add(self, record: CallRecord) -> CallRecord:
        from lmp.runtime.media import redact_messages  # image parts -> placeholders: no base64 in history

        tags = {**({"source": self.source} if self.source else {}), **(_CALL_TAGS.get() or {}),
                **(record.tags or {})}
        clean = CallRecord.from_dict(_scrub_obj({**record.to_dict(), "messages": redact_messages(record.messages),
                                                 "tags": tags}))
        line = json.dumps(clean.to_dict(), ensure_ascii=False, default=str) if self.path else None
        with self._lock:
            self._records.append(clean)
            if self.max_records is not None and len(self._records) > self.max_records:
                # Bounded memory for long optimizer runs; the file keeps everything.
                del self._records[: len(self._records) - self.max_records]
            if line is not None and self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Open/append/close per record: O_APPEND writes of one line are atomic enough for
                # several processes sharing the file, and nothing is lost on a crash.
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
        _LAST_CALL.set((self, clean, record.response))
        for sink in _OBSERVERS.get():
            sink.append(clean)  # list.append is atomic: worker threads of one run may add at once
        return clean

    def add_coercions(self, record: CallRecord, notes: list[str]) -> None:
        """Attach parse coercions to a stored record; the file gets an annotation line
        (`{"annotates": id, "coercions": [...]}`) that `read_file` merges into the record."""
        clean = [scrub(n) for n in notes]
        line = json.dumps({"annotates": record.id, "coercions": clean}, ensure_ascii=False) if self.path else None
        with self._lock:
            record.coercions.extend(clean)
            if line is not None and self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")

    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(self.records())

    def last(self, n: int = 1) -> list[CallRecord]:
        with self._lock:
            return list(self._records[-n:])

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def totals(self, records: list[CallRecord] | None = None) -> Totals:
        t = Totals()
        for r in self.records() if records is None else records:
            t.add(r)
        return t

    @staticmethod
    def read_file(path: str | os.PathLike[str] | None = None, limit: int | None = None) -> list[CallRecord]:
        """Records from a JSONL history file (the newest `limit` if given); bad lines are skipped."""
        p = Path(path) if path is not None else History.default_file()
        if not p.exists():
            return []
        out: list[CallRecord] = []
        by_id: dict[str, CallRecord] = {}
        with p.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    data = json.loads(line)
                    if isinstance(data, dict) and "annotates" in data:
                        target = by_id.get(str(data["annotates"]))
                        if target is not None:
                            target.coercions.extend(str(n) for n in data.get("coercions") or [])
                        continue
                    record = CallRecord.from_dict(data)
                except (ValueError, TypeError, AttributeError):
                    continue  # a torn line from a killed process must not break `lmp history`
                out.append(record)
                by_id[record.id] = record
        return out[-limit:] if limit else out


# Lists collecting every record added in a context (and in contexts copied from it: worker threads,
# `parallel` items): what one test or one playground run cost, while other runs share the History.
_OBSERVERS: contextvars.ContextVar[tuple[list[CallRecord], ...]] = contextvars.ContextVar(
    "lmp_call_observers", default=())


@contextlib.contextmanager
def observe_calls() -> Iterator[list[CallRecord]]:
    """`with observe_calls() as calls:` the scrubbed records of the model calls made inside."""
    calls: list[CallRecord] = []
    token = _OBSERVERS.set((*_OBSERVERS.get(), calls))
    try:
        yield calls
    finally:
        _OBSERVERS.reset(token)


# Tags every record added in a context carries (and in contexts copied from it): which test or which
# playground target a call belongs to. A record's own tags (attempt, react_step, ...) win on a clash.
_CALL_TAGS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("lmp_call_tags", default=None)


@contextlib.contextmanager
def tag_calls(**tags: Any) -> Iterator[None]:
    """`with tag_calls(test="battle", file="prog.lmp"):` every call record stored inside carries these
    tags (`lmp history` shows where a call came from); nested blocks add to the outer ones."""
    token = _CALL_TAGS.set({**(_CALL_TAGS.get() or {}), **{k: v for k, v in tags.items() if v is not None}})
    try:
        yield
    finally:
        _CALL_TAGS.reset(token)


# The newest record this thread or task added, with its unscrubbed response: the adapter that
# parses that response attaches its coercions to it (threads and tasks each see their own).
_LAST_CALL: contextvars.ContextVar[tuple[History, CallRecord, str | None] | None] = contextvars.ContextVar(
    "lmp_last_call", default=None)


def note_coercions(response_text: str, notes: list[str]) -> bool:
    """Attach `notes` to the newest call record of this thread/task if `response_text` is its
    response (the text an adapter just parsed); False when there is no such record."""
    last = _LAST_CALL.get()
    if last is None or not notes:
        return False
    history, record, response = last
    if response is None or response != response_text:
        return False
    history.add_coercions(record, notes)
    return True
