"""lmp: a small typed language for language-model programs.

Heavy parts (litellm, the interpreter) are imported lazily so that `import lmp`
and `lmp --help` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load": ("lmp.api", "load"),
    "loads": ("lmp.api", "loads"),
    "configure": ("lmp.api", "configure"),
    "context": ("lmp.api", "context"),
    "check": ("lmp.api", "check"),
    "history": ("lmp.api", "history"),
    "LMOutputError": ("lmp.runtime.errors", "LMOutputError"),
    "Partial": ("lmp.runtime.streaming", "Partial"),
    "Image": ("lmp.runtime.media", "Image"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module 'lmp' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
