"""Pausing Python's cyclic garbage collector while a large, acyclic structure is built.

Parsing, lowering and checking allocate millions of small objects (tokens, trees, IR nodes) and
free none of them until the end; each allocation burst triggers a collection that walks every
object built so far, which made a 4.9 MB file take 2-3x longer to parse than with the collector
paused. The trees and the IR have no reference cycles, so pausing frees nothing later than it
would have been freed. Re-entrant and thread-safe: the collector resumes when the last pause ends,
and only if it was running before the first began.

`freeze_after=True` is for what lives as long as the process (imported modules): when that pause ends,
what was built moves to the oldest generation without being scanned (`gc.freeze()` + `gc.unfreeze()`);
re-enabling alone would have the next allocation scan all of it at once. Not for parse trees and IR,
which die soon: there it would keep garbage until a full collection.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False
_freeze = False


@contextmanager
def gc_paused(freeze_after: bool = False) -> Iterator[None]:
    global _depth, _resume, _freeze
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            _freeze = freeze_after  # the outermost pause decides
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                if _freeze:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()
