"""Text rendering of diagnostics for terminals: `path:line:col: severity[CODE]: message`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable

from lmp.diagnostics import Diagnostic

SCHEMA_VERSION = 1


def _color(enabled: bool, code: str, text: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled else text


def format_diagnostic(d: Diagnostic, source: str | None, color: bool = False, cwd: str | None = None) -> str:
    path = d.path or "<memory>"
    if cwd and os.path.isabs(path):
        try:
            rel = os.path.relpath(path, cwd)
            path = rel if not rel.startswith("..") else path
        except ValueError:
            pass
    sev = d.severity.value
    sev_text = _color(color, {"error": "1;31", "warning": "1;33"}.get(sev, "1;36"), f"{sev}[{d.code}]")
    head = f"{path}:{d.span.line + 1}:{d.span.col + 1}: {sev_text}: {d.message}"
    lines = [head]
    if source is not None:
        src_lines = source.splitlines()
        if 0 <= d.span.line < len(src_lines):
            text = src_lines[d.span.line].replace("\t", " ")
            if len(text) > 200:
                text = text[:200] + "..."
            gutter = f"{d.span.line + 1:>4} | "
            width = (d.span.end_col - d.span.col) if d.span.end_line == d.span.line else len(text) - d.span.col
            width = max(1, min(width, max(1, len(text) - d.span.col)))
            lines.append(gutter + text)
            lines.append(" " * (len(gutter) - 2) + "| " + " " * min(d.span.col, 200)
                         + _color(color, "1;32", "^" * width))
    if d.hint:
        lines.append(f"     = hint: {d.hint}")
    for r in d.related:
        lines.append(f"     = note: {r.path or path}:{r.span.line + 1}:{r.span.col + 1}: {r.message}")
    return "\n".join(lines)


def print_diagnostics(diags: Iterable[Diagnostic], sources: dict[str, str], fmt: str = "text") -> None:
    diags = list(diags)
    if fmt == "json":
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
