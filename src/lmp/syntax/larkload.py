"""Import Lark without the `regex` module.

When `regex` is installed, `lark.utils` and `lark.lark` import it at import time (~13 ms, a tenth of a
small `lmp check`) only to support Unicode categories (`\\p{...}`) in grammars and the `regex=True`
option; lmp's grammar uses neither. The import of Lark is done once, early (from `lmp.ir` and
`lmp.syntax`), with `regex` hidden; other code that imports `regex` later gets the real module.
"""

from __future__ import annotations

import sys


def import_lark() -> None:
    if "lark" in sys.modules:
        return
    hidden = "regex" not in sys.modules
    if hidden:
        sys.modules["regex"] = None  # type: ignore[assignment]  # makes `import regex` raise ImportError
    try:
        import lark  # noqa: F401
    finally:
        if hidden and sys.modules.get("regex", 0) is None:
            del sys.modules["regex"]
