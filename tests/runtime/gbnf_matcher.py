"""Match text against GBNF grammar text with llguidance (a dev dependency), byte by byte.

llguidance reads Lark; its own `gbnf_to_lark` converts llama.cpp's format. Its lexer does not
backtrack between lexemes, unlike llama.cpp's character-level matcher, so a grammar whose root is
regular is wrapped into one rule that becomes a single lexeme (then matching is exact). Recursive
grammars (a generic JSON value) keep their rules; JSON's tokens are delimited, so lexing is exact too.
"""

from __future__ import annotations

import functools

import pytest

lg = pytest.importorskip("llguidance", reason="llguidance (dev extra) matches GBNF in these tests")
from llguidance.gbnf_to_lark import gbnf_to_lark  # noqa: E402


class _ByteTokenizer:
    """One token per byte, so any string can be fed to the matcher."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, s: str | bytes) -> list[int]:
        return list(s.encode() if isinstance(s, str) else s)


@functools.cache
def _tokenizer() -> object:
    return lg.LLTokenizer(lg.TokenizerWrapper(_ByteTokenizer()), slices=[])


@functools.cache
def lark_of(grammar: str) -> str:
    wrapped = grammar.replace("root ::=", "root ::= whole-answer\nwhole-answer ::=", 1)
    return gbnf_to_lark(wrapped)


def check_grammar(grammar: str) -> None:
    """Raise AssertionError with llguidance's message when the grammar itself is invalid."""
    m = lg.LLMatcher(_tokenizer(), lark_of(grammar), log_level=0)
    assert not m.is_error(), m.get_error()


def accepts(grammar: str, text: str) -> bool:
    m = lg.LLMatcher(_tokenizer(), lark_of(grammar), log_level=0)
    assert not m.is_error(), m.get_error()
    return bool(m.consume_tokens(list(text.encode("utf-8")))) and m.is_accepting()
