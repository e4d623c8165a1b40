"""Syntax errors as the parsing engines report them, whichever engine ran (`lmp.syntax.engine`).

The same three classes, with the same fields, as Lark's: the recovery in `lmp.syntax.parser` reads
where the parser stopped and what it expected, and nothing else.
"""

from __future__ import annotations


class UnexpectedInput(Exception):
    """The text does not parse."""


class UnexpectedCharacters(UnexpectedInput):
    """No terminal matches at `pos_in_stream`; `allowed` are the terminals that could have."""

    def __init__(self, pos_in_stream: int, allowed: set[str] | frozenset[str]) -> None:
        super().__init__(f"no terminal matches at offset {pos_in_stream}")
        self.pos_in_stream = pos_in_stream
        self.allowed = set(allowed)


class UnexpectedToken(UnexpectedInput):
    """`token` cannot come here; `expected` are the terminals that could (`$END` for the end)."""

    def __init__(self, token: object, expected: set[str] | frozenset[str]) -> None:
        super().__init__(f"unexpected {getattr(token, 'type', '?')} at offset {getattr(token, 'start_pos', '?')}")
        self.token = token
        self.expected = set(expected)
