"""The lean engine's tables (`lmp.syntax.lalr_export`), cached on disk between processes.

One file per grammar in the user's cache folder (`lmp.cachedir`, `parser/`), in `marshal` format
(plain data only; loading it is ~1 ms, where unpickling Lark's parser is ~15 ms and importing Lark ~40).
The file holds the grammar text it was built from and is used only when that text is exactly the
current grammar, and the Python version and format number are in its name: an edited grammar, another
Python or another lmp never reads tables that are not its own. A missing, damaged or foreign file is
rebuilt and replaced atomically (written to a temporary file, then renamed); a read-only cache folder
means building every time, silently. `LMP_PARSER_CACHE=0` turns the cache off. The file is written
with the user's own permissions (0600) into the user's own folder and read only from there.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib

from lmp.syntax.lalr_export import FORMAT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def cache_path(grammar: str) -> str | None:
    if os.environ.get("LMP_PARSER_CACHE", "1") == "0":
        return None
    from lmp.cachedir import user_cache_dir

    py = "".join(str(v) for v in sys.version_info[:3])
    tag = f"py{py}-f{FORMAT}-{zlib.crc32(grammar.encode('utf-8')):08x}"
    return os.path.join(user_cache_dir(), "parser", f"lmp-lean-{tag}.marshal")


def load(grammar: str) -> dict[str, Any] | None:
    path = cache_path(grammar)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = marshal.loads(fh.read())  # from bytes: `marshal.load(fh)` reads in small pieces, 5x slower
    except Exception:  # noqa: BLE001 - missing or damaged: built again
        return None
    if type(data) is not dict or data.get("format") != FORMAT or data.get("grammar") != grammar:
        return None
    try:  # the shape the engine indexes blindly
        n = len(data["states"])
        if len(data["state_lexer"]) != n or not all(0 <= k < len(data["lexers"]) for k in data["state_lexer"]):
            return None
    except Exception:  # noqa: BLE001
        return None
    return data


def store(grammar: str, data: dict[str, Any]) -> None:
    path = cache_path(grammar)
    if path is not None:
        from lmp.cachedir import write_cache_file

        write_cache_file(path, lambda fh: marshal.dump(data, fh))
