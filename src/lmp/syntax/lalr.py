"""The lean parsing engine: Lark's LALR tables, run without importing Lark.

Importing Lark and loading its pickled parser costs a fresh `lmp check` more than everything else it
does on a small file (bench/cold_start.py). This engine runs the tables Lark built, exported once to
plain data (`lmp.syntax.lalr_export`, cached by `lmp.syntax.lean_tables`): a contextual lexer (one
regular expression per parser state's set of terminals, compiled on first use) and the LALR loop with
Lark's tree shaping. Trees, tokens and errors are the same as Lark's (tests/syntax/test_lalr.py), and
it parses faster than Lark's compiled engine (bench/results/parser_engines.md), so it is the default
everywhere (`lmp.syntax.engine`).
"""

from __future__ import annotations

import re

from lmp.syntax.errors import UnexpectedCharacters, UnexpectedToken
from lmp.syntax.tree import Token, Tree, set_offsets

TYPE_CHECKING = False  # `typing` is not imported at run time: lmp check's start-up (bench/cold_start.py)
if TYPE_CHECKING:
    from typing import Any


class _Lexer:
    """One parser state's lexer: its terminals' alternation, keyword resolution ({name terminal: {text:
    keyword terminal}}) and the terminals an error message lists."""

    __slots__ = ("patterns", "unless", "allowed")

    def __init__(self, patterns: list[re.Pattern[str]], unless: dict[str, dict[str, str]],
                 allowed: list[str]) -> None:
        self.patterns = patterns
        self.unless = unless
        self.allowed = frozenset(allowed)


def alternation(names: list[str], regexps: list[str]) -> list[re.Pattern[str]]:
    """A lexer's terminals as one regular expression of named groups, in matching order (split in
    several if `re` refuses that many groups, as Lark does)."""
    size = len(names)
    while True:
        try:
            return [re.compile("|".join(f"(?P<{n}>{r})" for n, r in zip(names[lo:lo + size], regexps[lo:lo + size],
                                                                         strict=True)))
                    for lo in range(0, len(names), size)]
        except AssertionError:
            if size == 1:
                raise
            size //= 2


def _compile(names: list[str], regexps: list[str], programs: list | None) -> list[re.Pattern[str]]:
    if programs is not None:
        try:  # `re`'s own compiled form, made at export by this Python (lalr_export._programs)
            import _sre

            return [_sre.compile(*program) for program in programs]
        except Exception:  # noqa: BLE001, S110 - compiled from the text below instead
            pass
    return alternation(names, regexps)


def sre_magic() -> int:
    """The version of `re`'s compiled form (-1 where there is none to read: another Python)."""
    try:
        import _sre

        return int(_sre.MAGIC)
    except Exception:  # noqa: BLE001
        return -1


class LeanParser:
    """The tables of `lalr_export.export`, run. Stateless between parses (lexers are made on first use),
    so one instance serves every thread."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.states: list[dict[str, int]] = data["states"]
        self.rules: list[tuple] = data["rules"]
        self.start_states: dict[str, int] = data["start_states"]
        self.end_states: dict[str, int] = data["end_states"]
        self.terminals: dict[str, tuple[str, str]] = data["terminals"]
        self.ignore = frozenset(data["ignore"])
        self._specs: list[tuple] = data["lexers"]
        programs = data.get("programs")
        if not programs or data.get("sre") != sre_magic():
            programs = [None] * len(self._specs)
        self._programs: list = programs
        self._lexers: list[_Lexer | None] = [None] * len(self._specs)
        self._state_lexer: list[int] = data["state_lexer"]
        self._root = data["root_lexer"]

    def _lexer(self, k: int) -> _Lexer:
        lexer = self._lexers[k]
        if lexer is None:
            names, regexps, unless, allowed = self._specs[k]
            lexer = self._lexers[k] = _Lexer(_compile(names, regexps, self._programs[k]), unless, allowed)
        return lexer

    def _next(self, lexer: _Lexer, text: str, pos: int, comments: list | None) -> tuple[Token | None, int]:
        """The next token that is not ignored (None at the end of the text) and where it ends, or
        (None, ~offset) when nothing matches at that offset."""
        ignore = self.ignore
        n = len(text)
        while pos < n:
            for pattern in lexer.patterns:
                m = pattern.match(text, pos)
                if m is not None:
                    break
            else:
                return None, ~pos
            value = m.group(0)
            type_ = m.lastgroup
            end = m.end()
            if type_ in ignore:
                if comments is not None and type_ == "COMMENT":
                    comments.append(Token(type_, value, pos, end_pos=end))
                pos = end
                continue
            words = lexer.unless.get(type_)
            if words is not None:
                type_ = words.get(value, type_)
            return Token(type_, value, pos, end_pos=end), end
        return None, pos

    def _lex_error(self, lexer: _Lexer, text: str, pos: int, comments: list | None) -> Exception:
        # As Lark's contextual lexer: a terminal valid elsewhere in the grammar is an unexpected token.
        token, _ = self._next(self._lexer(self._root), text, pos, comments)
        if token is not None:
            return UnexpectedToken(token, lexer.allowed)
        return UnexpectedCharacters(pos, lexer.allowed)

    def parse(self, text: str, start: str = "start", comments: list | None = None) -> Tree:
        """Parse `text` from rule `start`; `comments` (if given) receives the COMMENT tokens.
        Raises `UnexpectedToken` or `UnexpectedCharacters` (lmp.syntax.errors)."""
        states = self.states
        rules = self.rules
        state_lexer = self._state_lexer
        lexers = self._lexers
        end_state = self.end_states[start]
        stack = [self.start_states[start]]
        values: list[Any] = []
        pos = 0
        last: Token | None = None
        while True:
            k = state_lexer[stack[-1]]
            lexer = lexers[k] or self._lexer(k)
            token, end = self._next(lexer, text, pos, comments)
            if token is None:
                if end < 0:
                    raise self._lex_error(lexer, text, ~end, comments)
                token = (Token("$END", "", last.start_pos, end_pos=last.end_pos) if last is not None
                         else Token("$END", "", 0))
            else:
                pos = end
                last = token
            ttype = token.type
            while True:
                row = states[stack[-1]]
                action = row.get(ttype)
                if action is None:
                    raise UnexpectedToken(token, {s for s in row if s.isupper()})
                if action >= 0:
                    stack.append(action)
                    values.append(token)
                    break
                origin, size, name, expand1, kept = rules[~action]
                if size:
                    children = values[-size:]
                    del values[-size:]
                    del stack[-size:]
                else:
                    children = []
                if kept is None:
                    filtered = children
                else:
                    filtered = []
                    for i, inline in kept:
                        if inline:
                            if filtered:
                                filtered += children[i].children
                            else:
                                filtered = children[i].children
                        else:
                            filtered.append(children[i])
                res = filtered[0] if expand1 and len(filtered) == 1 else Tree(name, filtered)
                set_offsets(res, children)
                stack.append(states[stack[-1]][origin])
                values.append(res)
                if ttype == "$END" and stack[-1] == end_state:
                    return res
