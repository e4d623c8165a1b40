"""Offsets -> (line, column). Lines and columns are derived from offsets because the parser
sees a text whose insignificant newlines were rewritten (see lmp.syntax.newlines)."""

from __future__ import annotations

import re
from bisect import bisect_right

from lmp.diagnostics import NO_SPAN, Span
from lmp.syntax.tree import Tree

_NEWLINE = re.compile(r"\n")
# Line breaks as editors and the LSP count them: `\r\n`, `\n`, and a lone `\r` (old Mac files).
_ANY_NEWLINE = re.compile(r"\r\n?|\n")
BOM = "\ufeff"


def line_starts(text: str) -> list[int]:
    """Offsets where each line begins; `\r\n`, `\n` and a lone `\r` each end a line."""
    starts = [0]
    starts.extend(m.end() for m in (_ANY_NEWLINE if "\r" in text else _NEWLINE).finditer(text))
    return starts


class Positions:
    def __new__(cls, text: str) -> Positions:
        # A byte-order mark is invisible in every editor: columns on the first line count from after it.
        return super().__new__(_BomPositions if text.startswith(BOM) and cls is Positions else cls)

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = line_starts(text)

    def span(self, start: int, end: int) -> Span:
        starts = self.starts
        line = bisect_right(starts, start) - 1
        end_line = line if end == start else bisect_right(starts, end) - 1
        return Span(start, end, line, start - starts[line], end_line, end - starts[end_line])

    def span_at(self, offset: int, length: int = 1) -> Span:
        offset = max(0, min(offset, len(self.text)))
        end = max(offset, min(offset + length, len(self.text)))
        return self.span(offset, end)

    def line_bounds(self, line: int) -> tuple[int, int]:
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return start, end

    def of(self, node: object) -> Span:
        """The span of a Lark tree or token (a hot path: thousands of calls per file)."""
        if isinstance(node, Tree):
            meta = node._meta  # the `meta` property would allocate an empty Meta
            if meta is None or meta.empty:
                return NO_SPAN
            start, end = meta.start_pos, meta.end_pos
        else:
            start = getattr(node, "start_pos", None)
            if start is None:
                return NO_SPAN
            end = node.end_pos  # type: ignore[attr-defined]
            if end is None:
                end = start + len(str(getattr(node, "value", "")))
        starts = self.starts
        line = bisect_right(starts, start) - 1
        end_line = line if end == start else bisect_right(starts, end) - 1
        return Span(start, end, line, start - starts[line], end_line, end - starts[end_line])


class _BomPositions(Positions):
    """Positions in a text that starts with a byte-order mark (first-line columns shifted by one)."""

    def span(self, start: int, end: int) -> Span:
        return _unbom(super().span(start, end))

    def of(self, node: object) -> Span:
        return _unbom(super().of(node))


def _unbom(s: Span) -> Span:
    if s.line and s.end_line:
        return s
    col = max(0, s.col - 1) if s.line == 0 else s.col
    end_col = max(0, s.end_col - 1) if s.end_line == 0 else s.end_col
    return Span(s.start, s.end, s.line, col, s.end_line, end_col)
