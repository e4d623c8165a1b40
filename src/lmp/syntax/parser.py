"""Parsing a file: the fast path parses the whole text once; when that fails, `lmp.syntax.recovery`
parses it declaration by declaration, so one mistake is one error and never hides the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from lmp.diagnostics import Diagnostic, Span
from lmp.syntax import engine
from lmp.syntax.errors import UnexpectedInput, UnexpectedToken
from lmp.syntax.gcpause import gc_paused
from lmp.syntax.limits import MAX_FILE_BYTES, size_error
from lmp.syntax.newlines import mark_insignificant_newlines
from lmp.syntax.positions import BOM, Positions
from lmp.syntax.tree import Token, Tree

__all__ = ["MAX_FILE_BYTES", "ParseResult", "parse", "parse_signature_spec"]

LONE_CR = re.compile(r"\r(?!\n)")


@dataclass
class ParseResult:
    trees: list[Tree]  # one `start` tree per parsed region (one when the file is clean)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    comments: list[Token] = field(default_factory=list)
    positions: Positions | None = None
    # Offsets of syntax errors beyond the reporting cap: the declarations holding them are as damaged
    # as those whose error is shown (the checker stays quiet about what the error may have caused).
    unreported: list[int] = field(default_factory=list)
    # Names of declarations dropped whole by recovery (an error in the header line).
    unparsed_names: list[str] = field(default_factory=list)


def run(text: str, start: str = "start", premarked: bool = False) -> tuple[Tree, list[Token]]:
    comments: list[Token] = []
    if not premarked:
        text = mark_insignificant_newlines(text)
    return engine.parse(text, start, comments), comments


def _clean(text: str, pos: Positions) -> tuple[str, list[Diagnostic]]:
    """The text the grammar sees, the same length as `text`: a byte-order mark and NUL characters
    become spaces, a lone `\\r` becomes `\\n` (it ends a line in every editor)."""
    diagnostics: list[Diagnostic] = []
    if text.startswith(BOM):
        text = " " + text[1:]
    if "\r" in text:
        text = LONE_CR.sub("\n", text)
    if "\x00" in text:
        # Kept as junk space so the rest still parses, but never silently: a file of NUL bytes is not
        # an empty program. Inside a comment it is harmless, like any other character there.
        first = _nul_outside_comments(text)
        if first is not None:
            count = text.count("\x00")
            diagnostics.append(Diagnostic(
                "E001", "unexpected NUL character" + (f" ({count} in this file)" if count > 1 else ""),
                pos.span_at(first, 1), hint=".lmp sources are UTF-8 text; is this a binary file?"))
        text = text.replace("\x00", " ")
    return text, diagnostics


def _nul_outside_comments(text: str, look_at: int = 100) -> int | None:
    """The first NUL that is not inside a `#` comment (looking at the first `look_at` NULs)."""
    from lmp.syntax.recovery import comment_start

    i = text.find("\x00")
    for _ in range(look_at):
        if i < 0:
            return None
        line_start = text.rfind("\n", 0, i) + 1
        hash_at = comment_start(text[line_start:i + 1])
        if hash_at is None:
            return i
        line_end = text.find("\n", i)
        if line_end < 0:
            return None
        i = text.find("\x00", line_end)
    return None


def parse(text: str) -> ParseResult:
    """Parse a whole file. Never raises: problems come back as E001 diagnostics."""
    too_large = size_error(len(text))
    if too_large is not None:
        return ParseResult([], [Diagnostic("E002", too_large, Span(0, 0, 0, 0, 0, 0),
                                           hint="split the program into files joined with `import`")])
    pos = Positions(text)
    source, diagnostics = _clean(text, pos)
    with gc_paused():
        try:
            tree, comments = run(mark_insignificant_newlines(source), premarked=True)
            return ParseResult([tree], diagnostics, comments, pos)
        except UnexpectedInput:
            pass
        except RecursionError:
            return ParseResult([], diagnostics + [Diagnostic("E003", "nesting too deep to parse", Span(0, 0, 0, 0, 0, 0))])
        from lmp.syntax.recovery import recover

        result = ParseResult([], diagnostics, positions=pos)
        recover(source, pos, result)
    return result


@lru_cache(maxsize=2048)
def parse_signature_spec(spec: str) -> Tree:
    """Parse the inline form "a, b: list[str] -> c: int". Raises UnexpectedInput.
    Cached: the same inline signatures are re-parsed on every keystroke in the editor, and the
    trees are never mutated."""
    tree, _ = run(spec, start="sig_spec")
    return tree


def spec_error(err: UnexpectedInput, spec: str) -> tuple[str, int]:
    """A readable message for an error inside an inline signature, and its offset in `spec`."""
    if isinstance(err, UnexpectedToken):
        err.expected = {t for t in err.expected if t != "_NL"}
    from lmp.syntax.messages import error_diagnostic

    diag = error_diagnostic(err, Positions(spec))
    return diag.message, diag.span.start
