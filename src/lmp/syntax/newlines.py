"""Decides which newlines end a statement, before Lark sees the text.

A newline ends a statement unless it sits inside ( ) or [ ], follows a token that cannot end
one (an operator, `{`, `,`), or the next line continues the construct (`|`, `}`, `)`, `]`,
`else`, `elif`, `->`). After an operator, a next line that can only start a statement (`return`,
`let`, `if`, `for`, `name =`, `}`) keeps the newline, so an unfinished line is one error on that line. LALR(1) cannot express that lookahead, so this pass rewrites every
newline that does not end a statement to `\\r`, which the grammar ignores. The text keeps its
length, so every offset stays true (lines and columns are computed from offsets). Doing this
before lexing, instead of in a Lark post-lexer, lets the parser run on Lark's compiled
(Cython) LALR engine, which does not support post-lexers.
"""

from __future__ import annotations

import re

# Only what changes the meaning of a newline: strings and comments (which hide brackets and
# newlines), brackets, and the newlines themselves.
# Possessive and unrolled (`"[^"]*+(?:\\.[^"]*+)*+"`), so that a string is matched in one pass with
# no backtracking state per character: `(?:[^"]|\\.)*` kept one per character, ~120 bytes each, and a
# 4.9 MB string literal took 590 MB here alone.
_SCAN = re.compile(
    r'"""[^"\\]*+(?:(?:\\.|"(?!""))[^"\\]*+)*+"""'
    r'|"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"'
    r"|#[^\n]*|[()\[\]\n]",
    re.DOTALL,
)
# Possessive (`*+`): a comment is skipped whole. Were the regex allowed to backtrack into it, the `)`
# of `# f()` or the word of `# else ...` on the next line would count as continuing the statement.
_NEXT_CONTINUES = re.compile(r"(?:[ \t\f\r\n]|#[^\n]*+)*+(?:\||\}|\)|\]|else\b|elif\b|->|\Z)")
_LAST_WORD = re.compile(r"(?:and|or|not|in)$")
_OPERATOR_CHARS = frozenset("|=:+-*/%<>.")  # with `{` and `,`, the characters a line cannot end on
# Lines that can never continue an expression: a statement keyword, an assignment, a closing `}`.
_NEXT_STARTS_STATEMENT = re.compile(
    r"(?:[ \t\f\r\n]|#[^\n]*+)*+(?:(?:return|let|if|for)\b|[A-Za-z_]\w*+[ \t\f]*+\+?=(?!=)|\})"
)
_SPACE = " \t\f\r"


def mark_insignificant_newlines(text: str) -> str:
    if "\n" not in text:
        return text
    drop: list[int] = []
    depth = 0
    code_end = -1  # where the code of the current line ends (before a trailing comment)
    for m in _SCAN.finditer(text):
        tok = m.group()
        c = tok[0]
        if c == "#":
            code_end = m.start()
            continue
        if c == "\n":
            i = m.start()
            end = code_end if code_end > text.rfind("\n", 0, i) else i
            j = end - 1
            while j >= 0 and text[j] in _SPACE:
                j -= 1
            last = text[j] if j >= 0 else "\n"
            if depth > 0 or last in "\n\r":
                drop.append(i)
            else:
                after_operator = last in _OPERATOR_CHARS or (
                    last.isalpha() and _LAST_WORD.search(text, max(0, j - 3), j + 1)
                    and not (text[j - 3:j - 2].isalnum() if j >= 3 else False) and _word_ends(text, j))
                if after_operator or last in "{," or _NEXT_CONTINUES.match(text, i + 1):
                    # An unfinished line (`x = a.`) must not swallow the next statement: joined, it
                    # parses as `a.return (...)` or fails one line late, and every error after that is
                    # a consequence. A line that can only start a statement ends the one before it.
                    if not (after_operator and _NEXT_STARTS_STATEMENT.match(text, i + 1)):
                        drop.append(i)
            code_end = -1
            continue
        if c == "(" or c == "[":
            depth += 1
        elif c == ")" or c == "]":
            if depth:
                depth -= 1
    if not drop:
        return text
    out: list[str] = []
    last_i = 0
    for i in drop:
        out.append(text[last_i:i])
        out.append("\r")
        last_i = i + 1
    out.append(text[last_i:])
    return "".join(out)


def _word_ends(text: str, j: int) -> bool:
    """Whether the identifier ending at `j` is exactly one of the operator words."""
    k = j
    while k >= 0 and (text[k].isalnum() or text[k] == "_"):
        k -= 1
    return text[k + 1:j + 1] in ("and", "or", "not", "in")
