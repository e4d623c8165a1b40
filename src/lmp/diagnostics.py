"""Source positions and diagnostics shared by the parser, checker, CLI and language server."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from lmp.secrets import scrub


class Span(NamedTuple):
    """A source range. Lines and columns are 0-based (LSP style); offsets index the text.
    A named tuple: thousands are made per parse, and tuples are the cheapest immutable record."""

    start: int
    end: int
    line: int
    col: int
    end_line: int
    end_col: int

    def contains(self, line: int, col: int) -> bool:
        if (line, col) < (self.line, self.col):
            return False
        return (line, col) <= (self.end_line, self.end_col)

    def shifted(self, offset: int, line: int, col: int) -> Span:
        """Re-base a span parsed from a sub-text (an inline signature string) into its file."""
        first_col = col if self.line == 0 else 0
        end_first_col = col if self.end_line == 0 else 0
        return Span(
            self.start + offset,
            self.end + offset,
            self.line + line,
            self.col + first_col,
            self.end_line + line,
            self.end_col + end_first_col,
        )

    @staticmethod
    def between(first: Span, last: Span) -> Span:
        return Span(first.start, last.end, first.line, first.col, last.end_line, last.end_col)


NO_SPAN = Span(0, 0, 0, 0, 0, 0)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    HINT = "hint"


@dataclass(slots=True)
class Related:
    """Related information: another place (and file) a diagnostic points to."""

    span: Span
    message: str
    path: str | None = None


@dataclass(slots=True)
class Fix:
    """A suggested text edit: replace `span` with `text`."""

    title: str
    span: Span
    text: str


@dataclass(slots=True)
class Diagnostic:
    """A finding about a program: a code (docs/diagnostics.md), a message, where, and how bad."""

    code: str
    message: str
    span: Span
    severity: Severity = Severity.ERROR
    hint: str | None = None
    path: str | None = None
    related: list[Related] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    tags: tuple[str, ...] = ()  # "unnecessary" / "deprecated" for editors

    def __post_init__(self) -> None:
        # Messages quote names, values and provider errors; a key among them must not reach a
        # terminal, a CI log or an editor (every renderer starts from these fields).
        self.message = scrub(self.message)
        if self.hint:
            self.hint = scrub(self.hint)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "range": {
                "start": {"line": self.span.line + 1, "column": self.span.col + 1, "offset": self.span.start},
                "end": {"line": self.span.end_line + 1, "column": self.span.end_col + 1, "offset": self.span.end},
            },
            "related": [
                {"path": r.path or self.path, "line": r.span.line + 1, "column": r.span.col + 1, "message": r.message}
                for r in self.related
            ],
            "fixes": [
                {
                    "title": f.title,
                    "text": f.text,
                    "range": {
                        "start": {"line": f.span.line + 1, "column": f.span.col + 1},
                        "end": {"line": f.span.end_line + 1, "column": f.span.end_col + 1},
                    },
                }
                for f in self.fixes
            ],
        }


def suggest(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The closest candidate to a misspelt name, if one is close enough to be a likely typo."""
    import difflib

    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


# --- text rendering (CLI, API errors, anything that shows a diagnostic as text) ---------------


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
            line = src_lines[d.span.line]
            # Cut before scrubbing (a line may be megabytes), with room for a key across the cut.
            text = scrub(line[:400].replace("\t", " "))
            if len(text) > 200 or len(line) > 400:
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
