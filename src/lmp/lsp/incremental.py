"""Incremental parsing for the language server: reuse the parse of every unchanged declaration.

`lmp.syntax.parser.parse` parses a whole file; on a 2,000-line file that is most of the time
between a keystroke and its diagnostics. A file is a sequence of top-level declarations, and the
parser's own error recovery already parses them one at a time; here each declaration's text is
parsed alone (with `lmp.syntax.parser.parse`, so recovery and messages are the parser's own), the
result cached by its text, and re-based to where the declaration sits now. Only the declaration
being edited is parsed again. The result is a `ParseResult` with the same contract as `parse`:
`IncrementalParser.parse` can stand in for it wherever a `ParseResult` is consumed.

Declarations are cut where the parser's recovery cuts them (a declaration keyword at column 0,
outside a docstring). A cut inside an unclosed `{` (a body line written at column 0 that starts
with a keyword) is undone by merging the pieces, so a file that parses whole parses the same here.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from lmp.diagnostics import Diagnostic, Fix, Related, Span
from lmp.syntax import parser as _parser
from lmp.syntax import recovery
from lmp.syntax.parser import ParseResult
from lmp.syntax.tree import Offsets, Token, Tree

# Below this size a whole parse is as fast as the bookkeeping.
SMALL_TEXT = 3_000
_MAX_ENTRIES = 4_000
# The cache is bounded by the source text it holds as well: a parsed declaration costs ~12 bytes of
# memory per character, and while a declaration is being typed into (an unclosed `{` merges it with
# everything after it) each version is a new entry thousands of characters long. 4,000 such entries
# were ~180 MB (bench/lsp_soak.py); 2 M characters are ~25 MB, many times the declarations open files hold.
_MAX_CHARS = 2_000_000
_STRIP = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def _depth(chunk: str) -> int:
    bare = _STRIP.sub("", chunk)
    return bare.count("{") - bare.count("}")


def _regions(text: str) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for start, end in recovery.decl_regions(text):
        if pending is not None:
            start = pending[0]
        if end < len(text) and _depth(text[start:end]) > 0:
            pending = (start, end)
            continue
        pending = None
        merged.append((start, end))
    if pending is not None:
        merged.append((pending[0], len(text)))
    return merged


def _shift_span(s: Span, d_off: int, d_line: int) -> Span:
    return Span(s.start + d_off, s.end + d_off, s.line + d_line, s.col, s.end_line + d_line, s.end_col)


def _add(value: int | None, delta: int) -> int | None:
    return None if value is None else value + delta


def _shift_token(tok: Token, d_off: int, d_line: int) -> Token:
    # The token class is whatever the engine's lexer made (lmp's, Lark's or lark_cython's).
    return type(tok)(tok.type, tok.value, _add(tok.start_pos, d_off), _add(tok.line, d_line), tok.column,
                     _add(tok.end_line, d_line), tok.end_column, _add(tok.end_pos, d_off))


def _shifted_node(tree: Tree, d_off: int) -> Tree:
    old = tree._meta
    meta = None if old is None or old.empty else Offsets(old.start_pos + d_off, old.end_pos + d_off)
    return Tree(tree.data, [], meta)


def _shift_tree(tree: Tree, d_off: int, d_line: int) -> Tree:
    # Only offsets matter: lines and columns are derived from offsets (lmp.syntax.positions).
    # A loop, not recursion: the parser (LALR) builds trees of any depth, and a deeply nested
    # expression must reach the lowering's E003 "nesting too deep", as in `lmp check`, instead of
    # a RecursionError here.
    out = _shifted_node(tree, d_off)
    todo = [(tree, out)]
    while todo:
        src, dst = todo.pop()
        for c in src.children:
            if isinstance(c, Tree):
                node = _shifted_node(c, d_off)
                dst.children.append(node)
                todo.append((c, node))
            else:
                dst.children.append(_shift_token(c, d_off, d_line) if hasattr(c, "start_pos") else c)
    return out


def _copy_diag(d: Diagnostic, d_off: int, d_line: int) -> Diagnostic:
    return Diagnostic(d.code, d.message, _shift_span(d.span, d_off, d_line), d.severity, d.hint, d.path,
                      [Related(_shift_span(r.span, d_off, d_line), r.message, r.path) for r in d.related],
                      [Fix(f.title, _shift_span(f.span, d_off, d_line), f.text) for f in d.fixes], d.tags)


def _summary(parsed: ParseResult, text: str) -> tuple[Any, ...]:
    from lmp.ir.lower import lower

    program, diags = lower(parsed, "/selftest.lmp", text)
    return ([(type(d).__name__, d.name, d.span, d.name_span) for d in program.decls],
            sorted((d.code, d.message, d.span) for d in diags))


def _sample() -> str:
    parts = ['# a sample program for the self-test', 'type Category = "a" | "b"', ""]
    for i in range(40):
        parts += [f"signature S{i} {{", '  """Do."""', "  in  text: str  # the input", "  out label: Category", "}", "",
                  f"module M{i}(text: str) -> (label: Category) {{", f"  let p = Predict(S{i})",
                  "  r = p(text: text)" if i != 7 else "  r = p(text: text", '  if r.label == "a" {',
                  "    return (label: r.label)", "  }", "  return (label: r.label)", "}", ""]
    return "\n".join(parts) + "\n"


class IncrementalParser:
    """A drop-in `parse(text) -> ParseResult` that re-parses only the declarations that changed."""

    def __init__(self, max_entries: int = _MAX_ENTRIES, max_chars: int = _MAX_CHARS) -> None:
        self._cache: OrderedDict[str, tuple[int, int, ParseResult]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.chars = 0  # total length of the cached declarations' text
        self.hits = 0
        self.misses = 0

    def self_test(self) -> bool:
        """Whether this parser gives the same IR as the whole-file parse (checked before it is used)."""
        text = _sample()
        edited = text.replace("S3", "S3x", 1).replace("# the input", "# edited", 1)
        try:
            for t in (text, edited, text):
                if _summary(self.parse(t), t) != _summary(_parser.parse(t), t):
                    return False
        except Exception:  # noqa: BLE001 - any surprise means: do not use it
            return False
        finally:
            with self._lock:
                self._cache.clear()
                self.chars = 0
        return True

    def parse(self, text: str) -> ParseResult:
        # A lone \r ends a line for the parser; the re-basing here counts \n only, so such a file
        # (rare: old Mac line endings) takes the whole-file parse.
        if len(text) < SMALL_TEXT or len(text) > _parser.MAX_FILE_BYTES or "\x00" in text or (
                "\r" in text and _parser.LONE_CR.search(text) is not None):
            return _parser.parse(text)
        try:
            return self._parse(text)
        except RecursionError:
            # Whatever recursed, the whole-file parse has the same contract (and its own E003).
            return _parser.parse(text)

    def _parse(self, text: str) -> ParseResult:
        out = ParseResult([])
        line = 0
        pos = 0
        for start, end in _regions(text):
            line += text.count("\n", pos, start)
            pos = start
            chunk = text[start:end]
            if chunk.strip():
                res = self._region(chunk, start, line)
                out.trees.extend(res.trees)
                out.comments.extend(res.comments)
                out.diagnostics.extend(_copy_diag(d, 0, 0) for d in res.diagnostics)
                out.unreported.extend(res.unreported)
                out.unparsed_names.extend(res.unparsed_names)
        cap = recovery.MAX_SYNTAX_ERRORS
        if len(out.diagnostics) > cap:
            # The whole-file parse shows the first 50 syntax errors and remembers where the others are
            # (the checker stays quiet about those declarations too); each region alone did not know.
            out.unreported.extend(d.span.start for d in out.diagnostics[cap:])
            del out.diagnostics[cap:]
        return out

    def _region(self, chunk: str, start: int, line: int) -> ParseResult:
        with self._lock:
            entry = self._cache.get(chunk)
            if entry is not None:
                self._cache.move_to_end(chunk)
        if entry is not None:
            self.hits += 1
            base_start, base_line, res = entry
            if (base_start, base_line) == (start, line):
                return res
            d_off, d_line = start - base_start, line - base_line
            res = ParseResult(
                [_shift_tree(t, d_off, d_line) for t in res.trees],
                [_copy_diag(d, d_off, d_line) for d in res.diagnostics],
                [_shift_token(c, d_off, d_line) for c in res.comments],
                unreported=[at + d_off for at in res.unreported],
                unparsed_names=res.unparsed_names,
            )
        else:
            self.misses += 1
            local = _parser.parse(chunk)
            res = ParseResult(
                [_shift_tree(t, start, line) for t in local.trees],
                [_copy_diag(d, start, line) for d in local.diagnostics],
                [_shift_token(c, start, line) for c in local.comments],
                unreported=[at + start for at in local.unreported],
                unparsed_names=local.unparsed_names,
            )
        with self._lock:
            if chunk not in self._cache:
                self.chars += len(chunk)
            self._cache[chunk] = (start, line, res)
            # Least recently used first; the entry just stored stays even if it alone is over the limit.
            while len(self._cache) > 1 and (len(self._cache) > self.max_entries or self.chars > self.max_chars):
                old, _ = self._cache.popitem(last=False)
                self.chars -= len(old)
        return res
