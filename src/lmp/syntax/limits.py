"""The size limit on one source file, shared by everything that reads `.lmp` text (CLI, language
server, imports), so that a file is refused the same way everywhere and before it costs memory.

Measured on 2 cores (`/usr/bin/time -v lmp check`, a file of generated declarations): about
0.8 s and 60x its size in peak memory per MB once parsing is linear, so 2 MB checks in ~2 s and
~130 MB. Real programs are far smaller (a 2,000-line program is ~60 KB); anything near the limit is
generated or not a program at all.
"""

from __future__ import annotations

MAX_FILE_BYTES = 2_000_000


def size_error(size: int, limit: int = MAX_FILE_BYTES) -> str | None:
    """The message for a source of `size` bytes (or characters) when it is over the limit, else None."""
    if size <= limit:
        return None
    return f"file too large ({size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB)"
