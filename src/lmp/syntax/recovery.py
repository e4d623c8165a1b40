"""Recovery after a syntax error: one mistake is one error, at the place to fix, and never hides the rest.

The file is cut into top-level declarations and each is parsed alone. Inside a declaration an error is
first repaired when a small, certain edit makes the line parse (a `(` never closed, a missing `:`, a
misspelt keyword), so that what the line declares still reaches the checker; otherwise the line is
blanked and the parse retried, a few times at most, so that every syntax error in a file is reported
and the good declarations still reach the checker. Imported only when a text does not parse whole.
"""

from __future__ import annotations

import re

from lmp.diagnostics import Diagnostic, Fix, Related
from lmp.syntax.errors import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lmp.syntax.messages import character_diagnostic, expected_words, token_diagnostic, token_text
from lmp.syntax.newlines import mark_insignificant_newlines
from lmp.syntax.parser import LONE_CR, run
from lmp.syntax.tree import Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lmp.syntax.parser import ParseResult
    from lmp.syntax.positions import Positions
    from lmp.syntax.tree import Token

MAX_TRIES_PER_DECL = 8
MAX_SYNTAX_ERRORS = 50

_DECL_KEYWORDS = ("type", "signature", "module", "metric", "tool", "retriever", "model", "example", "test",
                  "import")
_LINE_KEYWORDS = ("return", "let", "for", "if", "elif", "else", "in", "out", "expect", "check")
_ALL_KEYWORDS = frozenset(_DECL_KEYWORDS + _LINE_KEYWORDS + (
    "and", "or", "not", "using", "as", "true", "false", "none", "True", "False", "None"))
_DECL_START = re.compile(r"(?:" + "|".join(_DECL_KEYWORDS) + r")\b")
_MAYBE_DECL = re.compile(r'([A-Za-z_]\w*)[ \t]+[A-Za-z_"]')
_DECL_NAME = re.compile(r"[ \t]*[A-Za-z_]\w*[ \t]+([A-Za-z_]\w*)")  # `signatur Name {` counts too


def recover(source: str, pos: Positions, result: ParseResult) -> None:
    """Parse `source` (the whole file, cleaned) declaration by declaration into `result`."""
    seen: set[tuple[int, str]] = set()
    for start, end in decl_regions(source):
        if source[start:end].strip():
            _Region(source, start, end, pos).recover(result, seen)


def _misspelt_keyword(word: str, keywords: tuple[str, ...]) -> str | None:
    """The keyword `word` is a typo of (`signatur`, `retrun`), if it is one."""
    if word in _ALL_KEYWORDS or len(word) < 2:
        return None
    import difflib  # only on the error path: keeps it out of every `lmp check`'s start-up

    found = difflib.get_close_matches(word, keywords, n=1, cutoff=0.75)
    if found:
        return found[0]
    # Two letters swapped (`otu`, `fro`): short words score low on similarity but are plain typos.
    swapped = [k for k in keywords if len(k) >= 3 and sorted(k) == sorted(word)]
    return swapped[0] if swapped else None


def _starts_declaration(line: str) -> bool:
    if _DECL_START.match(line):
        return True
    # `signatur Name {`: a misspelt declaration keyword still starts a declaration, so that the typo is
    # one error and the declaration after it is not read as part of the one before.
    if not line[:1].isalpha():
        return False
    m = _MAYBE_DECL.match(line)
    return m is not None and _misspelt_keyword(m.group(1), _DECL_KEYWORDS) is not None


def decl_regions(text: str) -> list[tuple[int, int]]:
    """Offsets of top-level declarations: lines starting with a declaration keyword at column 0,
    outside triple-quoted strings."""
    if "\r" in text:
        text = LONE_CR.sub("\n", text)  # same length: offsets stay true
    starts: list[int] = []
    in_doc = False
    offset = 0
    for line in text.split("\n"):
        if not in_doc and line and _starts_declaration(line):
            starts.append(offset)
        if '"""' in line and line.count('"""') % 2 == 1:
            in_doc = not in_doc
        offset += len(line) + 1
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = starts[1:] + [len(text)]
    return list(zip(starts, bounds, strict=True))


_CLOSER = {"(": ")", "[": "]", "{": "}"}
_BRACKETS = re.compile(
    r'"""[^"\\]*+(?:(?:\\.|"(?!""))[^"\\]*+)*+"""|"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"|#[^\n]*|[()\[\]{}]'
)
_BLANK = re.compile(r"[^\n]")
_FIRST_WORD = re.compile(r"[ \t\f]*+([A-Za-z_]\w*)")
_WORD_BEFORE = re.compile(r"([A-Za-z_]\w*)[ \t\f]*$")
_STATEMENT_LINE = re.compile(r"^[ \t\f]*(?:(?:return|let|if|for)\b|[A-Za-z_]\w*[ \t\f]*\+?=(?!=)|\})", re.MULTILINE)
# Tokens recovery may insert where the grammar expects them: (terminal, text, preceded by a space).
_INSERTABLE = (("LBRACE", "{", True), ("COLON", ":", False), ("RPAR", ")", False), ("RSQB", "]", False),
               ("EQUAL", "=", True), ("COMMA", ",", False))


class _Region:
    """One top-level declaration parsed alone, with the repairs tried on it.

    The declaration's text is parsed by itself (not padded to the file's length: padding made
    recovery quadratic in the number of declarations), with lines blanked (same length) and small
    edits (a missing `)` or `:`, a misspelt keyword) that may change its length. Every offset in
    the resulting tree and every error is mapped back to the original file.
    """

    def __init__(self, source: str, start: int, end: int, pos: Positions) -> None:
        self.start = start
        self.base = source[start:end]
        self.pos = pos
        self.edits: list[tuple[int, int, str]] = []  # (local offset, removed length, inserted text)
        self.code_end = start + len(self.base.rstrip())  # where the declaration's text ends

    # ------------------------------------------------------------ text and offsets

    def text(self, edits: list[tuple[int, int, str]] | None = None) -> str:
        edits = self.edits if edits is None else edits
        if not edits:
            return self.base
        out: list[str] = []
        last = 0
        for at, removed, inserted in edits:
            out.append(self.base[last:at])
            out.append(inserted)
            last = at + removed
        out.append(self.base[last:])
        return "".join(out)

    def to_file(self, p: int, edits: list[tuple[int, int, str]] | None = None) -> int:
        """A parsed-text offset -> the offset in the file (inserted text maps to where it was inserted)."""
        edits = self.edits if edits is None else edits
        delta = 0
        for at, removed, inserted in edits:
            new_at = at + delta
            if p < new_at:
                break
            if p < new_at + len(inserted):
                return self.start + at + min(p - new_at, removed)
            delta += len(inserted) - removed
        return self.start + p - delta

    def local_line(self, line: int) -> tuple[int, int]:
        lo, hi = self.pos.line_bounds(line)
        return max(lo, self.start) - self.start, min(hi, self.start + len(self.base)) - self.start

    def blank_line(self, line: int) -> bool:
        """Blank one line (keeping its length); False if there was nothing left to blank."""
        lo, hi = self.local_line(line)
        if not self.base[lo:hi].strip():
            return False
        self.base = self.base[:lo] + _BLANK.sub(" ", self.base[lo:hi]) + self.base[hi:]
        self.edits = [e for e in self.edits if not lo <= e[0] <= hi]
        return True

    def with_edit(self, at: int, removed: int, inserted: str) -> list[tuple[int, int, str]]:
        return sorted([*self.edits, (at, removed, inserted)])

    # ------------------------------------------------------------ parsing

    def parse(self, edits: list[tuple[int, int, str]] | None = None) -> tuple[Tree, list[Token]]:
        edits = self.edits if edits is None else edits
        tree, comments = run(mark_insignificant_newlines(self.text(edits)), premarked=True)
        self._rebase(tree, comments, edits)
        return tree, comments

    def _rebase(self, tree: Tree, comments: list[Token], edits: list[tuple[int, int, str]]) -> None:
        start = self.start
        if not start and not edits:
            return

        def move(p: int) -> int:
            return p + start if not edits else self.to_file(p, edits)

        stack = [tree]
        while stack:
            t = stack.pop()
            meta = t._meta
            if meta is not None and not meta.empty:
                meta.start_pos, meta.end_pos = move(meta.start_pos), move(meta.end_pos)
            for c in t.children:
                if isinstance(c, Tree):
                    stack.append(c)
                elif getattr(c, "start_pos", None) is not None:
                    c.start_pos, c.end_pos = move(c.start_pos), move(c.end_pos)
        for c in comments:
            c.start_pos, c.end_pos = move(c.start_pos), move(c.end_pos)

    def error_offset(self, err: UnexpectedInput, edits: list[tuple[int, int, str]] | None = None) -> int:
        """Where in the file the parser stopped."""
        if isinstance(err, UnexpectedCharacters):
            return self.to_file(err.pos_in_stream, edits)
        if isinstance(err, UnexpectedToken) and err.token.type != "$END" and err.token.start_pos is not None:
            return self.to_file(err.token.start_pos, edits)
        return self.code_end

    def attempt(self, edits: list[tuple[int, int, str]], past: int) -> tuple[Tree, list[Token]] | bool:
        """Try a repair: the tree when the declaration now parses, True when the parser now gets
        past offset `past` (a later, separate error), False when the repair does not help."""
        try:
            return self.parse(edits)
        except UnexpectedInput as err:
            return self.error_offset(err, edits) > past
        except RecursionError:
            return False

    # ------------------------------------------------------------ recovery

    def recover(self, result: ParseResult, seen: set[tuple[int, str]]) -> None:
        header = self.base
        if not self._recover(result, seen):
            # Nothing of the declaration survived: its name is remembered, so that its uses are not
            # reported as unknown on top of the syntax error.
            m = _DECL_NAME.match(header)
            if m is not None:
                result.unparsed_names.append(m.group(1))

    def _recover(self, result: ParseResult, seen: set[tuple[int, str]]) -> bool:
        """Parse the declaration, repairing or skipping lines; whether a tree came out of it."""
        closed_at_end = False
        for _attempt in range(MAX_TRIES_PER_DECL):
            try:
                tree, comments = self.parse()
            except RecursionError:
                result.diagnostics.append(Diagnostic("E003", "nesting too deep to parse",
                                                     self.pos.span_at(self.start, 0)))
                return False
            except UnexpectedInput as err:
                if isinstance(err, UnexpectedCharacters):
                    offset = self.to_file(err.pos_in_stream)
                    diag: Diagnostic | None = character_diagnostic(self.pos, offset)
                    more = self.blank_line(self.pos.span_at(offset, 0).line)
                elif isinstance(err, UnexpectedToken) and err.token.type != "$END":
                    diag, outcome = self.token_error(err)
                    if isinstance(outcome, tuple):
                        self.report(diag, result, seen)
                        result.trees.append(outcome[0])
                        result.comments.extend(outcome[1])
                        return True
                    more = outcome
                else:
                    if closed_at_end:
                        return False
                    closed_at_end = True
                    diag, more = self.end_error(err)
                self.report(diag, result, seen)
                if not more:
                    return False
                continue
            result.trees.append(tree)
            result.comments.extend(comments)
            return True
        return False

    def report(self, diag: Diagnostic | None, result: ParseResult, seen: set[tuple[int, str]]) -> None:
        if diag is None:
            return
        key = (diag.span.start, diag.message)
        if key in seen:
            return
        seen.add(key)
        if len(result.diagnostics) < MAX_SYNTAX_ERRORS:
            result.diagnostics.append(diag)
        else:
            result.unreported.append(diag.span.start)

    def end_error(self, err: UnexpectedInput) -> tuple[Diagnostic, bool]:
        """The declaration ended while something was still open (or incomplete)."""
        pos = self.pos
        openers = self.unclosed()
        if openers:
            at, ch = openers[0]
            closers = "".join(_CLOSER[c] for _, c in reversed(openers))
            self.edits = self.with_edit(len(self.base), 0, " " + " ".join(closers))
            return Diagnostic(
                "E001", f"`{ch}` is never closed", pos.span_at(self.start + at, 1),
                hint=f"add the matching `{_CLOSER[ch]}`",
                related=[Related(pos.span_at(self.code_end, 0), f"the declaration ends here, before its `{_CLOSER[ch]}`")],
            ), True
        expected = expected_words(err.expected) if isinstance(err, UnexpectedToken) else ""
        return Diagnostic("E001", f"unexpected end of the declaration{expected}", pos.span_at(self.code_end, 0)), False

    def unclosed(self) -> list[tuple[int, str]]:
        """Brackets never closed in this declaration, the likeliest culprit first. A `}` indented less
        than the line that opened the innermost `{` closes an outer block: the inner one is the open one."""
        text = self.base
        stack: list[tuple[int, str, int]] = []  # (local offset, bracket, indentation of its line)
        skipped: list[tuple[int, str]] = []
        for m in _BRACKETS.finditer(text):
            ch = m.group()
            if ch in "([{":
                line_start = text.rfind("\n", 0, m.start()) + 1
                indent = len(text) - len(text[line_start:].lstrip(" \t")) - line_start
                stack.append((m.start(), ch, indent))
            elif ch in ")]}":
                if ch == "}":
                    line_start = text.rfind("\n", 0, m.start()) + 1
                    if not text[line_start:m.start()].strip():
                        indent = m.start() - line_start
                        while len(stack) > 1 and stack[-1][1] == "{" and indent < stack[-1][2]:
                            skipped.append(stack.pop()[:2])
                if stack:
                    stack.pop()
        rest = [(at, ch) for at, ch, _ in stack]
        # Unclosed ( and [ first (innermost blocks are closed after them), then the braces.
        return [o for o in reversed(rest) if o[1] != "{"] + skipped + [o for o in reversed(rest) if o[1] == "{"]

    def token_error(self, err: UnexpectedToken) -> tuple[Diagnostic | None, tuple[Tree, list[Token]] | bool]:
        """Diagnose an unexpected token and repair or blank the line; returns the diagnostic and the
        repaired tree, or whether to parse again."""
        pos = self.pos
        tok = err.token
        t_start = self.to_file(tok.start_pos)
        t_end = self.to_file(tok.end_pos) if tok.end_pos is not None else t_start + 1
        line = pos.span_at(t_start, 0).line
        line_end = pos.line_bounds(line)[1]
        local_lo, _local_hi = self.local_line(line)
        if tok.end_pos is not None and tok.end_pos > tok.start_pos and t_start == t_end and t_start >= self.code_end:
            # The parser stopped at a `}` that recovery added at the end: the declaration itself ends
            # too early (`x = a.` as its last line).
            return Diagnostic("E001", f"unexpected end of the declaration{expected_words(err.expected)}",
                              pos.span_at(self.code_end, 0)), False

        # 1. A `(` or `[` opened on an earlier line and never closed: close it where its line ends.
        opener = self.open_before(local_lo)
        if opener is not None:
            at, ch, closers, close_at = opener
            diag = Diagnostic("E001", f"`{ch}` is never closed", pos.span_at(self.start + at, 1),
                              hint=f"add the matching `{_CLOSER[ch]}`",
                              fixes=[Fix(f"Add `{closers}`", pos.span_at(self.start + close_at, 0), closers)])
            if close_at is not None:
                edits = self.with_edit(close_at, 0, closers)
                outcome = self.attempt(edits, line_end)
                if outcome:
                    self.edits = edits
                    return diag, outcome
            return diag, self.blank_line(pos.span_at(self.start + at, 0).line)

        # 2. A misspelt keyword at the start of the line (`signatur`, `retrun`).
        m = _FIRST_WORD.match(self.base, local_lo)
        if m is not None and tok.type != "_NL":
            word = m.group(1)
            keywords = _DECL_KEYWORDS + _LINE_KEYWORDS if m.start(1) == local_lo else _LINE_KEYWORDS
            keyword = _misspelt_keyword(word, keywords)
            if keyword is not None:
                edits = self.with_edit(m.start(1), len(word), keyword)
                outcome = self.attempt(edits, line_end)
                if outcome:
                    self.edits = edits
                    span = pos.span_at(self.start + m.start(1), len(word))
                    return Diagnostic("E001", f"unknown keyword `{word}`", span, hint=f"did you mean `{keyword}`?",
                                      fixes=[Fix(f"Change to `{keyword}`", span, keyword)]), outcome

        # 3. A missing token the grammar expects here (`out topic Topic`, `module M(q: str -> ...`,
        #    `if x` without `{`, `r classify(...)`): inserted, if the line then parses.
        missing = self.missing_token(err, tok, t_start, t_end, local_lo, line_end)
        if missing is not None:
            return missing

        # 4. Otherwise: report it and blank the line, so the rest of the declaration still parses.
        # Not the declaration's first line: without its header, every line of the body would be
        # another error. The declaration is dropped instead (after its one error).
        diag = token_diagnostic(pos, tok, t_start, t_end, err.expected)
        if local_lo == 0 or not self.base[:local_lo].strip():
            return diag, False
        return diag, self.blank_line(line)

    def missing_token(self, err: UnexpectedToken, tok: Token, t_start: int, t_end: int, local_lo: int,
                      line_end: int) -> tuple[Diagnostic, tuple[Tree, list[Token]] | bool] | None:
        pos = self.pos
        local_t = t_start - self.start
        if tok.type == "_NL":
            code = self.base[local_lo:local_t]
            hash_at = comment_start(code)
            insert_at = local_lo + len((code[:hash_at] if hash_at is not None else code).rstrip())
        else:
            insert_at = local_t
            while insert_at > local_lo and self.base[insert_at - 1] in " \t\f":
                insert_at -= 1
        if insert_at <= local_lo:
            return None
        before = _WORD_BEFORE.search(self.base, local_lo, insert_at)
        for terminal, text, spaced in _INSERTABLE:
            if terminal not in err.expected:
                continue
            if terminal == "COLON" and (before is None or tok.type == "_NL"):
                continue  # a `:` goes between a name and its type
            edits = self.with_edit(insert_at, 0, (" " + text) if spaced else text)
            outcome = self.attempt(edits, line_end)
            if not outcome:
                continue
            self.edits = edits
            fix = Fix(f"Add `{text}`", pos.span_at(self.start + insert_at, 0), (" " + text) if spaced else text)
            if tok.type == "_NL":
                span = pos.span_at(self.start + insert_at, 0)
                message = f"missing `{text}` at the end of the line"
            else:
                span = pos.span_at(t_start, max(1, t_end - t_start))
                message = (f"missing `:` between `{before.group(1)}` and {token_text(tok)}"
                           if terminal == "COLON" and before is not None else f"missing `{text}` before {token_text(tok)}")
            return Diagnostic("E001", message, span, fixes=[fix]), outcome
        return None

    def open_before(self, local_line_start: int) -> tuple[int, str, str, int | None] | None:
        """A `(`/`[` opened before this line and still open here: (its offset, the bracket, the closers
        that close everything open, where to insert them: the end of the last line of code before)."""
        text = self.base
        stack: list[tuple[int, str]] = []
        for m in _BRACKETS.finditer(text, 0, local_line_start):
            ch = m.group()
            if ch in "([{":
                stack.append((m.start(), ch))
            elif ch in ")]}" and stack:
                stack.pop()
        first = next((i for i, (_, ch) in enumerate(stack) if ch != "{"), None)
        if first is None:
            return None
        at, ch = stack[first]
        closers = "".join(_CLOSER[c] for _, c in reversed(stack[first:]))
        # The end of the code on the last non-blank line before this one (before any comment), or before
        # the first line after the opener's that can only start a statement: inside brackets `return`
        # reads as a name, so `f(a,` followed by `return x` would otherwise take the return as an argument.
        close_at = None
        k = local_line_start - 1
        first_next = text.find("\n", at)
        if 0 <= first_next < local_line_start:
            m = _STATEMENT_LINE.search(text, first_next + 1, local_line_start)
            if m is not None:
                k = m.start() - 1
        while k > at:
            lo = text.rfind("\n", 0, k) + 1
            code = text[lo:k]
            hash_at = comment_start(code)
            if hash_at is not None:
                code = code[:hash_at]
            if code.strip():
                close_at = lo + len(code.rstrip())
                break
            k = lo - 1
        return at, ch, closers, close_at


def comment_start(line: str) -> int | None:
    """Where a `#` comment starts on a line (outside strings), if it has one."""
    if "#" not in line:
        return None
    for m in _BRACKETS.finditer(line):
        if m.group().startswith("#"):
            return m.start()
    return None
