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
    from pathlib import Path


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
