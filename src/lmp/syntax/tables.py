"""The built Lark parser, cached on disk between processes.

Building the LALR tables from the grammar takes ~130 ms, more than the rest of `lmp check` on a small
file; loading them takes ~15 ms. The tables are pickled (Lark's own `save`/`_load`) into the user's
cache folder (`lmp.cachedir`, `parser/`), one file per key: the grammar text, the parser options, the
versions of Python, Lark and lark_cython and a format number, hashed. So an edited grammar or an upgraded
Lark never loads old tables, and several lmp versions side by side keep their own files.

The cache can only make start-up faster, never break it: a missing, truncated, corrupt or foreign file
is rebuilt (and replaced, written to a temporary file and renamed, so concurrent processes never read a
half-written one); a read-only or missing cache folder means building every time, silently.
`LMP_PARSER_CACHE=0` turns it off. The file is a pickle, written with the user's own permissions (0600)
into the user's own cache folder, and read only from there (Lark's own `cache=True` would use the shared
temporary folder instead).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any, BinaryIO

from lark import Lark

_FORMAT = 1
# Options given at load time rather than pickled: the compiled engine's classes and the callbacks.
_RUNTIME_OPTIONS = ("_plugins", "propagate_positions", "tree_class", "lexer_callbacks")


def _versions() -> str:
    import lark

    try:
        import lark_cython

        cy = getattr(lark_cython, "__version__", "?")
    except ImportError:
        cy = "-"
    return f"py{sys.version_info[:3]} lark{lark.__version__} lark_cython{cy} fmt{_FORMAT}"


def cache_key(grammar: str, options: dict[str, Any]) -> str:
    opts = sorted((k, repr(v)) for k, v in options.items() if k not in _RUNTIME_OPTIONS)
    plugins = "compiled" if options.get("_plugins") else "pure"
    blob = "\0".join([grammar, repr(opts), plugins, _versions()])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_file(key: str) -> Path | None:
    if os.environ.get("LMP_PARSER_CACHE", "1") == "0":
        return None
    from lmp.cachedir import user_cache_root

    return user_cache_root() / "parser" / f"lmp-grammar-{key[:40]}.pickle"


def _load(path: Path, key: str, options: dict[str, Any]) -> Lark | None:
    try:
        with open(path, "rb") as fh:
            header = fh.readline().rstrip(b"\n")
            if header != key.encode("ascii"):
                return None
            data = pickle.load(fh)
        inst = Lark.__new__(Lark)
        inst._load(data, **{k: options[k] for k in _RUNTIME_OPTIONS if k in options})
        return inst
    except Exception:  # noqa: BLE001 - any damage to the file just means building the tables again
        return None


def _store(path: Path, key: str, lark: Lark) -> None:
    from lark.lark import _LOAD_ALLOWED_OPTIONS

    from lmp.cachedir import write_cache_file

    def write(fh: BinaryIO) -> None:
        fh.write(key.encode("ascii") + b"\n")
        lark.save(fh, _LOAD_ALLOWED_OPTIONS)

    write_cache_file(path, write)


def load_or_build(grammar: str, options: dict[str, Any]) -> Lark:
    """`Lark(grammar, **options)` (LALR), from the disk cache when it holds these exact tables."""
    key = cache_key(grammar, options)
    path = cache_file(key)
    if path is not None:
        lark = _load(path, key, options)
        if lark is not None:
            return lark
    lark = Lark(grammar, **options)
    if path is not None:
        _store(path, key, lark)
    return lark
