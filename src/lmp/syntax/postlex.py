"""Decides which newlines end a statement.

Lark cannot express "a newline ends a statement unless the next line continues it" in
LALR(1), so this post-lexer peeks at the source text after each newline instead of
buffering a token (buffering would break Lark's contextual lexer, which lexes each token
in the parser state reached so far).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lark import Token

# Tokens after which a line break never ends a statement.
_OPEN_ENDED = frozenset({
    "LBRACE", "COMMA", "VBAR", "EQUAL", "ARROW", "COLON", "PLUSEQ", "PLUS", "MINUS", "STAR",
    "SLASH", "PERCENT", "COMP_OP", "AND", "OR", "NOT", "IN", "DOT", "_NL",
})
_DEPTH_OPEN = {"LPAR": 1, "LSQB": 1, "RPAR": -1, "RSQB": -1}

# What may start the next line and continue the current construct (or end the file).
_CONTINUES = re.compile(r"(?:[ \t\f\r\n]|#[^\n]*)*(?:\||\}|\)|\]|else\b|elif\b|->|\Z)")


class NewlinePostLex:
    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.text = ""

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        text = self.text
        depth = 0
        prev: str | None = None
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if depth > 0 or prev is None or prev in _OPEN_ENDED:
                    continue
                if _CONTINUES.match(text, tok.end_pos):
                    continue
                prev = kind
                yield tok
                continue
            delta = _DEPTH_OPEN.get(kind)
            if delta is not None:
                depth = max(0, depth + delta)
            prev = kind
            yield tok
