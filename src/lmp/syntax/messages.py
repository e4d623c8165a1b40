"""The words of syntax errors: what the parser met and what it expected, as a person reads them."""

from __future__ import annotations

from lmp.diagnostics import Diagnostic
from lmp.syntax import engine
from lmp.syntax.errors import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lmp.syntax.positions import Positions
    from lmp.syntax.tree import Token

_TOKEN_WORDS = {
    "NAME": "a name",
    "STRING": "a string",
    "DOCSTRING": 'a """docstring"""',
    "NUMBER": "a number",
    "_NL": "a new line",
    "$END": "the end of the file",
    "COMP_OP": "a comparison",
    "ARROW": "`->`",
    "PLUSEQ": "`+=`",
    "IN": "`in`",
    "OUT": "`out`",
    "USING": "`using`",
    "AS": "`as`",
    "TRUE": "`true`",
    "FALSE": "`false`",
    "NONE": "`none`",
}


def describe(terminal: str) -> str:
    if terminal in _TOKEN_WORDS:
        return _TOKEN_WORDS[terminal]
    pattern = engine.terminal(terminal)
    if pattern is None:
        return terminal.lower()
    if pattern[0] == "str":
        return f"`{pattern[1]}`"
    return terminal.lower()


_EXPR_STARTS = {"NAME", "STRING", "NUMBER", "DOCSTRING", "LPAR", "LSQB", "MINUS", "NOT", "TRUE", "FALSE",
                "NONE", "__ANON_0", "__ANON_1", "__ANON_2"}


def expected_words(expected: set[str] | frozenset[str]) -> str:
    expected = set(expected)
    words: list[str] = []
    if {"NAME", "STRING", "NUMBER"} <= expected:
        words.append("an expression")
        expected -= _EXPR_STARTS | {"_NL"}
    words += sorted({describe(t) for t in expected if t != "COMMENT"} - {"`true`", "`false`", "`none`",
                                                                          "`True`", "`False`", "`None`"})
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return "; expected " + (words[0] if len(words) == 1 else "one of " + ", ".join(words))


def token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    value = str(tok.value)
    if len(value) > 30:
        value = value[:27] + "..."
    return f"`{value}`"


def error_diagnostic(err: UnexpectedInput, pos: Positions) -> Diagnostic:
    """The diagnostic for a Lark error in a text whose offsets are the original ones (inline
    signatures); declarations go through `_Region`, which maps offsets back and repairs first."""
    if isinstance(err, UnexpectedCharacters):
        return character_diagnostic(pos, err.pos_in_stream)
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        start = tok.start_pos if tok.start_pos is not None else 0
        end = tok.end_pos if tok.end_pos is not None else start + 1
        return token_diagnostic(pos, tok, start, end, err.expected)
    expected = expected_words(err.expected) if isinstance(err, UnexpectedToken) else ""
    return Diagnostic("E001", f"unexpected end of input{expected}", pos.span_at(len(pos.text.rstrip()), 0))


def character_diagnostic(pos: Positions, offset: int) -> Diagnostic:
    ch = pos.text[offset] if offset < len(pos.text) else ""
    shown = repr(ch)[1:-1] if not ch.isprintable() else ch
    msg = "unterminated string" if ch == '"' else f"unexpected character `{shown}`"
    return Diagnostic("E001", msg, pos.span_at(offset, 1))


def token_diagnostic(pos: Positions, tok: Token, start: int, end: int, expected: set[str]) -> Diagnostic:
    length = 1 if tok.type == "_NL" else max(1, end - start)
    return Diagnostic("E001", f"unexpected {token_text(tok)}{expected_words(expected)}", pos.span_at(start, length))
