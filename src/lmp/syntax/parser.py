"""Parsing with recovery: one bad line never hides the rest of the file.

The fast path parses the whole text once. When that fails, the file is cut into
top-level declarations and each is parsed alone (the rest of the text blanked so that
every offset stays true); inside a declaration, a line that fails is blanked and the
parse retried, a few times at most, so that every syntax error in a file is reported
and the good declarations still reach the checker.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from lmp.diagnostics import Diagnostic, Span
from lmp.syntax.newlines import mark_insignificant_newlines
from lmp.syntax.positions import Positions

MAX_FILE_BYTES = 5_000_000
_MAX_TRIES_PER_DECL = 8
_MAX_SYNTAX_ERRORS = 50

_DECL_START = re.compile(
    r"^(type|signature|module|metric|tool|retriever|model|example|import)\b", re.MULTILINE
)

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


def grammar_path() -> Path:
    packaged = Path(__file__).with_name("lmp.lark")
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "grammar" / "lmp.lark"


_lock = threading.Lock()


class _OffsetsOnly:
    """Lark's position propagation, reduced to what lmp reads: start and end offsets.
    Lines and columns come from `Positions` over the original text (the parser sees a text
    whose insignificant newlines were rewritten), so Lark's line bookkeeping is wasted work;
    this is about a third of the parse time."""

    __slots__ = ("node_builder",)

    def __init__(self, node_builder: object, node_filter: object = None) -> None:
        self.node_builder = node_builder

    def __call__(self, children: list[object]) -> object:
        res = self.node_builder(children)  # type: ignore[operator]
        if type(res) is Tree and children:
            meta = res.meta
            if meta.empty:
                start = end = None
                for c in children:
                    start = _start_of(c)
                    if start is not None:
                        break
                for c in reversed(children):
                    end = _end_of(c)
                    if end is not None:
                        break
                if start is not None and end is not None:
                    meta.start_pos, meta.end_pos, meta.empty = start, end, False
        return res


def _start_of(node: object) -> int | None:
    if type(node) is Tree:
        meta = node._meta
        return None if meta is None or meta.empty else meta.start_pos
    return getattr(node, "start_pos", None)


def _end_of(node: object) -> int | None:
    if type(node) is Tree:
        meta = node._meta
        return None if meta is None or meta.empty else meta.end_pos
    return getattr(node, "end_pos", None)


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, None]:
    options: dict[str, object] = {}
    try:  # Lark's compiled LALR engine: same grammar, same trees, about twice as fast
        import lark_cython

        options["_plugins"] = lark_cython.plugins
    except ImportError:
        pass
    import lark.parse_tree_builder as tree_builder

    standard = getattr(tree_builder, "PropagatePositions", None)
    if standard is not None:
        tree_builder.PropagatePositions = _OffsetsOnly  # read when the parser is built
    try:
        lark = Lark(
            grammar_path().read_text(encoding="utf-8"),
            parser="lalr",
            lexer="contextual",
            propagate_positions=True,
            maybe_placeholders=False,
            start=["start", "sig_spec"],
            cache=not options,
            **options,
        )
    finally:
        if standard is not None:
            tree_builder.PropagatePositions = standard
    return lark, None


@dataclass
class ParseResult:
    trees: list[Tree]  # one `start` tree per parsed region (one when the file is clean)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    comments: list[Token] = field(default_factory=list)
    positions: Positions | None = None


def _describe(terminal: str) -> str:
    if terminal in _TOKEN_WORDS:
        return _TOKEN_WORDS[terminal]
    lark, _ = _parser()
    try:
        pattern = lark.get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return terminal.lower()


_EXPR_STARTS = {"NAME", "STRING", "NUMBER", "DOCSTRING", "LPAR", "LSQB", "MINUS", "NOT", "TRUE", "FALSE",
                "NONE", "__ANON_0", "__ANON_1", "__ANON_2"}


def _expected_words(expected: set[str] | frozenset[str]) -> str:
    expected = set(expected)
    words: list[str] = []
    if {"NAME", "STRING", "NUMBER"} <= expected:
        words.append("an expression")
        expected -= _EXPR_STARTS | {"_NL"}
    words += sorted({_describe(t) for t in expected if t != "COMMENT"} - {"`true`", "`false`", "`none`",
                                                                          "`True`", "`False`", "`None`"})
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return "; expected " + (words[0] if len(words) == 1 else "one of " + ", ".join(words))


def _token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    value = str(tok.value)
    if len(value) > 30:
        value = value[:27] + "..."
    return f"`{value}`"


def _error_diagnostic(
    err: UnexpectedInput, pos: Positions, region_end: int | None = None
) -> tuple[Diagnostic, int | None]:
    """The diagnostic for a Lark error, and the 0-based line to blank out to recover."""
    eof_at = len(pos.text[:region_end].rstrip()) if region_end is not None else len(pos.text.rstrip())
    if isinstance(err, UnexpectedCharacters):
        ch = pos.text[err.pos_in_stream] if err.pos_in_stream < len(pos.text) else ""
        shown = repr(ch)[1:-1] if not ch.isprintable() else ch
        span = pos.span_at(err.pos_in_stream, 1)
        msg = f"unexpected character `{shown}`"
        if ch == '"':
            msg = "unterminated string"
        return Diagnostic("E001", msg, span, hint=None), span.line
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            span = pos.span_at(eof_at, 0)
            expected = _expected_words(err.expected)
            return Diagnostic("E001", f"unexpected end of file{expected}", span,
                              hint="a `{` may be missing its `}`"), None
        start = tok.start_pos if tok.start_pos is not None else 0
        length = max(1, (tok.end_pos or start + 1) - start)
        if tok.type == "_NL":
            length = 1
        span = pos.span_at(start, length)
        return Diagnostic("E001", f"unexpected {_token_text(tok)}{_expected_words(err.expected)}", span), span.line
    if isinstance(err, UnexpectedEOF):
        span = pos.span_at(eof_at, 0)
        return Diagnostic("E001", "unexpected end of file", span), None
    span = pos.span_at(0, 0)
    return Diagnostic("E001", str(err).splitlines()[0], span), None


def _run(text: str, start: str = "start", premarked: bool = False) -> tuple[Tree, list[Token]]:
    lark, _ = _parser()
    comments: list[Token] = []
    if not premarked:
        text = mark_insignificant_newlines(text)
    with _lock:
        lexer_conf = lark.lexer_conf
        old = lexer_conf.callbacks.get("COMMENT")
        lexer_conf.callbacks["COMMENT"] = comments.append
        try:
            tree = lark.parse(text, start=start)
        finally:
            if old is None:
                lexer_conf.callbacks.pop("COMMENT", None)
            else:
                lexer_conf.callbacks["COMMENT"] = old
    return tree, comments


def _decl_regions(text: str) -> list[tuple[int, int]]:
    """Offsets of top-level declarations: lines starting with a declaration keyword at column 0,
    outside triple-quoted strings."""
    starts: list[int] = []
    in_doc = False
    offset = 0
    for line in text.splitlines(keepends=True):
        if not in_doc and _DECL_START.match(line):
            starts.append(offset)
        if line.count('"""') % 2 == 1:
            in_doc = not in_doc
        offset += len(line)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = starts[1:] + [len(text)]
    return list(zip(starts, bounds, strict=True))


def parse(text: str) -> ParseResult:
    """Parse a whole file. Never raises: problems come back as E001 diagnostics."""
    if len(text) > MAX_FILE_BYTES:
        return ParseResult([], [Diagnostic(
            "E002", f"file too large to check ({len(text) / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB)",
            Span(0, 0, 0, 0, 0, 0))])
    text = text.replace("\x00", " ")  # NUL would end strings in some clients; treat as junk space
    marked = mark_insignificant_newlines(text)
    try:
        tree, comments = _run(marked, premarked=True)
        return ParseResult([tree], [], comments, Positions(text))
    except UnexpectedInput:
        pass
    except RecursionError:
        return ParseResult([], [Diagnostic("E003", "nesting too deep to parse", Span(0, 0, 0, 0, 0, 0))])
    return _parse_with_recovery(text)


def _parse_with_recovery(text: str) -> ParseResult:
    """Parse each declaration alone. Offsets stay true because everything outside the
    declaration becomes spaces (line numbers come from `Positions` over the original text)."""
    pos = Positions(text)
    blank = " " * len(text)
    blank_lines = re.sub(r"[^\n]", " ", text)
    result = ParseResult([], positions=pos)
    seen: set[tuple[int, str]] = set()
    for start, end in _decl_regions(text):
        if not text[start:end].strip():
            continue
        # The declaration alone decides its newlines; the rest of the file becomes spaces.
        source = text[start:end]
        region = blank[:start] + mark_insignificant_newlines(source) + blank[end:]
        closers = ""
        for _attempt in range(_MAX_TRIES_PER_DECL):
            try:
                tree, comments = _run(region + closers, premarked=True)
                result.trees.append(tree)
                result.comments.extend(comments)
                break
            except RecursionError:
                result.diagnostics.append(Diagnostic("E003", "nesting too deep to parse", pos.span_at(start, 0)))
                break
            except UnexpectedInput as err:
                diag, bad_line = _error_diagnostic(err, pos, end)
                if bad_line is not None:
                    opener = _unclosed_opener(region, pos, start, bad_line)
                    if opener is not None:
                        bad_line = opener[0]
                        diag = Diagnostic("E001", f"`{opener[2]}` is never closed", pos.span_at(opener[1], 1),
                                          hint=f"add the matching `{_CLOSER[opener[2]]}`")
                key = (diag.span.start, diag.message)
                if key not in seen and len(result.diagnostics) < _MAX_SYNTAX_ERRORS:
                    seen.add(key)
                    result.diagnostics.append(diag)
                if bad_line is None:
                    # Ran off the end: close whatever blocks are still open and try again once.
                    if closers:
                        break
                    depth = region.count("{") - region.count("}")
                    if depth <= 0:
                        break
                    closers = " }" * depth
                    continue
                lo, hi = pos.line_bounds(bad_line)
                if region[lo:hi].strip() == "":
                    break
                source = source[:lo - start] + blank_lines[lo:hi] + source[hi - start:]
                region = blank[:start] + mark_insignificant_newlines(source) + blank[end:]
    return result


_CLOSER = {"(": ")", "[": "]"}
_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[()\[\]]')


def _unclosed_opener(region: str, pos: Positions, start: int, line: int) -> tuple[int, int, str] | None:
    """If `line` sits inside a bracket opened on an earlier line and never closed, that opener:
    (its line, its offset, the bracket). Blanking the opener's line recovers far better than
    blanking the line where the parser finally noticed."""
    first_line = pos.span_at(start, 0).line
    stack: list[tuple[int, int, str]] = []
    for ln in range(first_line, line):
        lo, hi = pos.line_bounds(ln)
        for m in _BRACKETS.finditer(region, lo, hi):
            ch = m.group()
            if ch in "([":
                stack.append((ln, m.start(), ch))
            elif ch in ")]" and stack:
                stack.pop()
    return stack[0] if stack else None


@lru_cache(maxsize=2048)
def parse_signature_spec(spec: str) -> Tree:
    """Parse the inline form "a, b: list[str] -> c: int". Raises UnexpectedInput.
    Cached: the same inline signatures are re-parsed on every keystroke in the editor, and the
    trees are never mutated."""
    tree, _ = _run(spec, start="sig_spec")
    return tree


def spec_error(err: UnexpectedInput, spec: str) -> tuple[str, int]:
    """A readable message for an error inside an inline signature, and its offset in `spec`."""
    if isinstance(err, UnexpectedToken):
        err.expected = {t for t in err.expected if t != "_NL"}
    diag, _ = _error_diagnostic(err, Positions(spec))
    return diag.message, diag.span.start
