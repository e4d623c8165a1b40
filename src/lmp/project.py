"""Loading a program as every tool needs it: its IR (`lmp.ir.project`) and the checker's verdict.

`lmp check`, the interpreter, the optimizer and the language server all start here. It sits above
both the IR and the checker, so neither has to reach up to the other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lmp.ir.project import Loaded, load_ir, sort_diagnostics
from lmp.syntax.gcpause import gc_paused


def load_program(
    path: str | os.PathLike[str],
    text: str | None = None,
    overlay: Mapping[str, str] | None = None,
    check: bool = True,
) -> Loaded:
    """Parse, lower and (unless `check` is false) check `path` and its imports. Never raises on bad
    source text."""
    # One pause around the parse, lower and check pauses (lmp.syntax.gcpause): each of them, ending,
    # has the next allocation set off a collection over everything it built that is still alive, and the
    # syntax trees are alive until lowering is done (~5 ms of a 2,000-line load). Ending here, they are
    # gone: what is scanned once is what the caller gets.
    with gc_paused():
        loaded = load_ir(path, text=text, overlay=overlay)
        if check:
            from lmp.checker import check_program

            for prog in loaded.files.values():
                loaded.diagnostics.extend(check_program(prog))
            from lmp.followon import drop_follow_on

            loaded.diagnostics[:] = drop_follow_on(loaded.diagnostics, loaded.files, os.path.abspath(path))
            sort_diagnostics(loaded.diagnostics)
    return loaded


def load_text(text: str, path: str = "<memory>.lmp", check: bool = True) -> Loaded:
    return load_program(path, text=text, check=check)
