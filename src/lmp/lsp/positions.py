"""Positions: the IR's code-point columns <-> the client's position encoding (UTF-16 by default)."""

from __future__ import annotations

import bisect

from lsprotocol import types as lsp

from lmp.diagnostics import Span
from lmp.syntax.positions import line_starts


class LineMap:
    """Line starts of a text, for converting between offsets, (line, code point) and LSP positions."""

    __slots__ = ("text", "starts", "encoding", "_ascii")

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.text = text
        self.encoding = encoding
        # The parser's line breaks (`\r\n`, `\n`, a lone `\r`), so that a Span's line is this line.
        self.starts = line_starts(text)
        self._ascii = text.isascii()

    def line_text(self, line: int) -> str:
        if line < 0 or line >= len(self.starts):
            return ""
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return self.text[start:end]

    # code points -> client units
    def _units(self, line: int, col: int) -> int:
        if self._ascii or self.encoding == "utf-32":
            return col
        prefix = self.line_text(line)[:col]
        if prefix.isascii():
            return col
        if self.encoding == "utf-8":
            return len(prefix.encode("utf-8"))
        return len(prefix.encode("utf-16-le")) // 2

    # client units -> code points
    def _cps(self, line: int, units: int) -> int:
        if self._ascii or self.encoding == "utf-32":
            return units
        text = self.line_text(line)
        if text.isascii():
            return min(units, len(text))
        count = 0
        for i, ch in enumerate(text):
            if count >= units:
                return i
            o = ord(ch)
            if self.encoding == "utf-8":
                count += 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4
            else:
                count += 2 if o > 0xFFFF else 1
        return len(text)

    def position(self, line: int, col: int) -> lsp.Position:
        return lsp.Position(line=max(line, 0), character=max(self._units(line, col), 0))

    def range(self, span: Span) -> lsp.Range:
        return lsp.Range(start=self.position(span.line, span.col), end=self.position(span.end_line, span.end_col))

    def offset(self, pos: lsp.Position) -> int:
        """Offset into the text of an LSP position (clamped to the text)."""
        if pos.line >= len(self.starts):
            return len(self.text)
        col = self._cps(pos.line, pos.character)
        return min(self.starts[pos.line] + col, len(self.text))

    def line_col(self, pos: lsp.Position) -> tuple[int, int]:
        """(line, code-point column) of an LSP position."""
        if pos.line >= len(self.starts):
            last = len(self.starts) - 1
            return last, len(self.line_text(last))
        return pos.line, min(self._cps(pos.line, pos.character), len(self.line_text(pos.line)))

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def span(self, start: int, end: int) -> Span:
        line = self.line_of(start)
        end_line = self.line_of(end)
        return Span(start, end, line, start - self.starts[line], end_line, end - self.starts[end_line])

    def full_range(self) -> lsp.Range:
        last = len(self.starts) - 1
        return lsp.Range(start=lsp.Position(line=0, character=0),
                         end=self.position(last, len(self.line_text(last))))
