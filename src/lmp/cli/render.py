"""Text rendering of diagnostics for terminals: `path:line:col: severity[CODE]: message`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from lmp.diagnostics import Diagnostic, format_diagnostic

SCHEMA_VERSION = 1


def print_diagnostics(diags: Iterable[Diagnostic], sources: dict[str, str], fmt: str = "text") -> None:
    diags = list(diags)
    if fmt == "json":
        import json

        payload = {
            "version": SCHEMA_VERSION,
            "diagnostics": [d.to_json() for d in diags],
            "summary": {
                "errors": sum(d.severity.value == "error" for d in diags),
                "warnings": sum(d.severity.value == "warning" for d in diags),
                "files": len(sources),
            },
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    cwd = os.getcwd()
    for d in diags:
        print(format_diagnostic(d, sources.get(d.path or ""), color, cwd))
        print()
