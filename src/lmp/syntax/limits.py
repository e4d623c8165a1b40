"""The size limit on one source file, shared by everything that reads `.lmp` text (CLI, language
server, imports), so that a file is refused the same way everywhere and before it costs memory.

Time is linear in the size of a file, memory is not small: `lmp check` of generated declarations
(2 cores, `/usr/bin/time -v`) takes ~2.5 s of CPU and 119 MB peak for 1 MB, ~4.4 s and 209 MB for
2 MB (about 85 bytes per character over the interpreter's 35 MB: the Lark parse tree and the IR are
alive together while lowering). The limit keeps the worst case near 120 MB and a few seconds.
Real programs are far smaller (a 2,000-line program is ~60 KB, 1 MB is ~34,000 lines): anything
near the limit is generated or not a program at all.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1_000_000


def size_error(size: int, limit: int = MAX_FILE_BYTES) -> str | None:
    """The message for a source of `size` bytes (or characters) when it is over the limit, else None."""
    if size <= limit:
        return None
    return f"file too large ({size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB)"
