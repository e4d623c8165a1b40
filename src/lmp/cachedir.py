"""Where lmp keeps its caches: the user's cache folder, never the workspace.

`$XDG_CACHE_HOME/lmp` when XDG_CACHE_HOME is set (an absolute path, as the XDG spec requires),
else `~/.cache/lmp`. The model-response cache and the call history live there unless
`$LMP_CACHE_DIR` (or a `cache=` setting) points elsewhere; the built parser tables live in its
`parser/` folder. Kept free of imports beyond the standard library: the parser reads it at start-up.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # no `pathlib` or `typing` at start-up: the parser reads this module first
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import BinaryIO


def user_cache_dir() -> str:
    """The user's cache folder for lmp, as a string (not created here)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "lmp")
    return os.path.join(os.path.expanduser("~"), ".cache", "lmp")


def user_cache_root() -> Path:
    """The user's cache folder for lmp (not created here)."""
    from pathlib import Path

    return Path(user_cache_dir())


def write_cache_file(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Write a cache file whole or not at all, never raising: `write` fills a temporary file (the user's
    permissions only, 0600) beside `path`, which is then renamed over it, so a concurrent process never
    reads half a file. A read-only or full disk just means the cache is not written."""
    import tempfile

    folder = os.path.dirname(os.fspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
        tmp = None
    except Exception:  # noqa: BLE001 - a cache that cannot be written is rebuilt next time, that is all
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
