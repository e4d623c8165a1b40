"""Response cache: an in-memory LRU in front of a sqlite file shared by threads and processes.

Key = sha256 of the canonical JSON of (model, messages, params without secrets/transport, rollout id).
API keys, base URLs and headers never enter the key nor the stored value, so a cache directory can
be shared or committed without leaking credentials, and switching endpoints for the same model reuses
answers. `rollout_id` exists so a program can ask for several distinct samples of the same prompt.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmp.secrets import scrub_known

from .base import LMResponse, Message

# Params that describe *where/how* to call, not *what* to ask: excluded from keys and stored values.
TRANSPORT_PARAMS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "headers",
        "extra_headers",
        "timeout",
        "num_retries",
        "fallbacks",
        "organization",
        "api_version",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "vertex_credentials",
        "metadata",
        "cache",
        "rollout_id",
    }
)

def default_cache_dir() -> Path:
    """`$LMP_CACHE_DIR` if set, else the user's cache folder (`$XDG_CACHE_HOME/lmp` or `~/.cache/lmp`):
    a run in a workspace leaves nothing in it (an editor's file tree, a repository's status)."""
    env = os.environ.get("LMP_CACHE_DIR")
    if env:
        return Path(env)
    from lmp.cachedir import user_cache_root

    return user_cache_root()


def cacheable_params(params: dict[str, Any]) -> dict[str, Any]:
    # "max_tokens" contains "token" but is a real request parameter: only exclude names listed as
    # transport or clearly credential-like (…_key, …secret…, auth…).
    out: dict[str, Any] = {}
    for k, v in params.items():
        lk = k.lower()
        if (
            lk in TRANSPORT_PARAMS
            or lk.endswith("_key")
            or "secret" in lk
            or "password" in lk
            or lk.startswith("auth")
        ):
            continue
        out[k] = v
    return out


def cache_key(model: str, messages: list[Message], params: dict[str, Any], rollout_id: Any = None) -> str:
    payload = {
        "model": model,
        # A native tool-calling turn differs from another only by its calls and call ids; keys of plain
        # messages stay as they were (existing caches keep hitting).
        "messages": [{"role": m["role"], "content": m["content"],
                      **{k: m[k] for k in ("tool_calls", "tool_call_id") if k in m}}  # type: ignore[literal-required]
                     for m in messages],
        "params": cacheable_params(params),
        "rollout_id": rollout_id,
    }
    # sort_keys + fixed separators make the JSON canonical; default=str tolerates odd param values.
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_BUSY_TIMEOUT_S = 30.0


def _while_locked(statement: Callable[[], object]) -> None:
    """Run `statement`, retrying while another connection holds the lock it needs.

    The connection's busy timeout is not enough when several processes open a new cache file at
    once: switching to WAL and creating the table need a write lock taken from a read lock, and
    SQLite returns "database is locked" at once rather than risk a deadlock by waiting.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class CacheWarning(UserWarning):
    """The response cache file was unusable: moved aside (or skipped), calls go on without it."""


class CacheUnavailable(OSError):  # noqa: N818 - reads as a state
    """The cache file cannot be opened or created at all (a permission, a path that is a directory)."""


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """SQLite's words for a file that is not (or no longer) a database, as opposed to a lock or a
    missing permission (OperationalError), which moving the file aside would not fix."""
    if not isinstance(exc, sqlite3.OperationalError):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


class DiskCache:
    """Thread-safe, multi-process-safe response cache.

    `enabled=False` (for `--no-cache`) turns every method into a no-op so callers need no branches.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        enabled: bool = True,
        memory_size: int = 1024,
    ) -> None:
        self.enabled = enabled
        base = Path(path) if path is not None else default_cache_dir()
        # Accept either a directory (the usual) or an explicit *.sqlite file.
        self.path = base if base.suffix in (".sqlite", ".db") else base / "responses.sqlite"
        self.memory_size = memory_size
        self._memory: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        self.moved_aside: Path | None = None  # where a corrupt file went, if this open found one
        self._warned = False
        if enabled:
            self._open()

    def _open(self) -> None:
        """Create or check the file. A corrupt one (any call would fail with "file is not a database")
        is moved to `<name>.corrupt-<timestamp>` with a warning naming both paths, and a fresh cache
        starts; a file that cannot be opened at all raises CacheUnavailable."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._create_and_probe()
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                self._move_aside(exc)
                self._create_and_probe()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise CacheUnavailable(f"the response cache {self.path} cannot be opened: {exc}. Fix its permissions "
                                   "or point LMP_CACHE_DIR elsewhere, or run without the cache (--no-cache)") from exc

    def _create_and_probe(self) -> None:
        _while_locked(
            lambda: self._conn().execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, model TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL)"
            )
        )
        # Reads the table's root page: a damaged file fails here, at open, not on every call later.
        self._conn().execute("SELECT key FROM responses LIMIT 1").fetchall()

    def _move_aside(self, exc: BaseException) -> None:
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, target)
        # Its write-ahead log belongs to the old file: replayed into a fresh one it would corrupt it too.
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
        self.moved_aside = target
        warnings.warn(f"the response cache {self.path} was not a usable database ({exc}); moved it to {target} "
                      "and started a fresh cache", CacheWarning, stacklevel=4)

    def _skip(self, exc: sqlite3.DatabaseError) -> None:
        """Damage found after open: the call goes on without the cache (warned once per cache)."""
        if not _is_corruption(exc):
            raise exc
        if not self._warned:
            self._warned = True
            warnings.warn(f"the response cache {self.path} is damaged ({exc}); calls go on without it. Move the "
                          "file aside or delete it; the next run starts a fresh cache", CacheWarning, stacklevel=4)

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread: sqlite connections must not be shared across threads, and WAL
        # lets readers in other processes proceed while one writes.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            _while_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def key(self, model: str, messages: list[Message], params: dict[str, Any], rollout_id: Any = None) -> str:
        return cache_key(model, messages, params, rollout_id)

    def get(self, key: str) -> LMResponse | None:
        if not self.enabled:
            return None
        with self._lock:
            value = self._memory.get(key)
            if value is not None:
                self._memory.move_to_end(key)
        if value is None:
            try:
                row = self._conn().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as exc:
                self._skip(exc)
                row = None
            if row is None:
                with self._lock:
                    self.misses += 1
                return None
            value = json.loads(row[0])
            self._remember(key, value)
        with self._lock:
            self.hits += 1
        return LMResponse(
            text=value["text"],
            model=value["model"],
            prompt_tokens=value.get("prompt_tokens", 0),
            completion_tokens=value.get("completion_tokens", 0),
            # A hit costs nothing now; the original cost stays in the stored row for reference.
            cost=0.0,
            cached=True,
            latency_s=0.0,
            raw=None,
            finish_reason=value.get("finish_reason"),
            tool_calls=value.get("tool_calls"),
        )

    def put(self, key: str, response: LMResponse) -> None:
        if not self.enabled:
            return
        # Only the answer and its accounting are stored: never the raw provider payload, which can
        # echo request headers.
        value = {
            # A model that repeats a key it was shown (in a prompt, or by a provider echoing the
            # request) must not leave it on disk.
            "text": scrub_known(response.text),
            "model": response.model,
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
            "cost": response.cost,
            # A cut-off answer must still read as cut off when it comes from the cache.
            "finish_reason": response.finish_reason,
        }
        if response.tool_calls:
            value["tool_calls"] = [{**c, "arguments": scrub_known(str(c.get("arguments", "")))}
                                   for c in response.tool_calls]
        self._remember(key, value)
        try:
            self._conn().execute(
                "INSERT OR REPLACE INTO responses (key, model, value, created) VALUES (?, ?, ?, ?)",
                (key, response.model, json.dumps(value, ensure_ascii=False), time.time()),
            )
        except sqlite3.DatabaseError as exc:
            self._skip(exc)

    def _remember(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_size:
                self._memory.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._memory.clear()
        if self.enabled:
            self._conn().execute("DELETE FROM responses")

    def __len__(self) -> int:
        if not self.enabled:
            return 0
        return int(self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __repr__(self) -> str:
        return f"DiskCache({str(self.path)!r}, enabled={self.enabled})"
