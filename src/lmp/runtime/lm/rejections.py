"""What servers refused in this process: (endpoint, model) pairs that rejected a request feature (a
decoding constraint, native tool definitions), so that later calls leave it out instead of failing again."""

from __future__ import annotations

import threading


class ServerRejections:
    def __init__(self) -> None:
        self._pairs: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def has(self, api_base: str | None, model: str) -> bool:
        with self._lock:
            return (api_base or "", model) in self._pairs

    def remember(self, api_base: str | None, model: str) -> bool:
        """Record the pair; True the first time (the caller warns once)."""
        with self._lock:
            new = (api_base or "", model) not in self._pairs
            self._pairs.add((api_base or "", model))
            return new

    def clear(self) -> None:
        with self._lock:
            self._pairs.clear()
