"""Offsets -> (line, column). Lines and columns are derived from offsets because the parser
sees a text whose insignificant newlines were rewritten (see lmp.syntax.newlines)."""

from __future__ import annotations

import re
from bisect import bisect_right

from lark import Tree

from lmp.diagnostics import NO_SPAN, Span

_NEWLINE = re.compile(r"\n")


class Positions:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        self.starts.extend(m.end() for m in _NEWLINE.finditer(text))

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
