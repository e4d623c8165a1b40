"""Schema-aligned parsing: turning model text into values of the declared type.

The output type is known before the call, so the parser reads the answer *towards* that type and
accepts what a small model writes when one reading is unambiguous. Every such reading is recorded
as a coercion note (`category: "wars  and conflicts" -> "Wars and Conflicts" (case, whitespace)`);
nothing is filled in silently, and anything ambiguous is rejected with a message the model can act
on in the repair attempt (the error keeps the raw output: see `AdapterParseError`).

What is accepted, per type:

- literal members: the exact member; case and whitespace variants; quotes, backticks, bold or a code
  fence around it; a trailing period; an answer label (`A. build trust`, `(B)`, `B)`, `Answer: C`,
  `**D**`, `The answer is E.`); the first line when it alone is a member; prose that mentions exactly
  one member, not negated. Rejected: an echo of the list of members (`A; B; C; D; E; E; E`, the format
  hint copied back) and text naming several members.
- int / float: a number, also `"0.9"` (a JSON string), `0.9.` (trailing period), `1,234`; floats also
  `90%` (0.9) and `9/10` or `9 out of 10` (0.9); ints also `3.0`. Number words zero..twenty (`three`)
  when they are the whole answer. A number in prose is taken only when it is the only one.
- bool: true/false, yes/no, y/n, 1/0, correct/incorrect in any case with trailing punctuation, and
  that word first followed by punctuation (`Yes, because ...`). `No idea` is rejected.
- JSON (lists, dicts, records, `any`): the text, each code fence (the first that validates against
  the type wins), or an object/array inside prose; repaired when the repair is unambiguous: trailing
  commas, unquoted keys, single quotes, `//` and `/* */` comments, Python's True/False/None, bare
  word strings, and a truncated end (open strings and brackets are closed; a value cut off inside a
  number or word, or a key without a value, is dropped, so a required field is never invented).
- lists of scalars without JSON: bulleted or numbered lines (every non-empty line a bullet, one
  introductory line ending in `:` allowed), else one line split at `;` or `, ` (so list[str] reads
  `Paris, London` as two items: a single line with commas is taken as a list because the type asks for
  one), else a one-line answer is a one-item list.
- optional: `null`, `none`, `n/a`, `nil` or nothing is None; a record's missing optional field is None.

Notes go to the `notes` list given to `parse_text`/`coerce`/`load_structured`, else to the innermost
`recording_coercions()` block of this thread or task. Adapters' `parse` methods are wrapped with
`records_coercions`, which also attaches the notes to the history entry of the call that produced
the text (see `lmp.runtime.lm.history.note_coercions`).
"""

from __future__ import annotations

import contextvars
import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from lmp.ir.types import (
    AnyType,
    DictType,
    ListType,
    LiteralType,
    NoneType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
    strip_optional,
)
from lmp.runtime.lm.history import note_coercions
from lmp.runtime.values import python_type, wrap

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_NUM_RE = _NUMBER.pattern
# A number, a percentage or a fraction, as one expression (used for the whole answer and in prose).
_NUM_EXPR = re.compile(
    rf"(?<![\w.])(?P<a>{_NUM_RE})\s*(?:(?P<pct>%)|(?:/|\s+out\s+of\s+)(?P<b>{_NUM_RE}))?(?![\w/]|\.\d)",
    re.IGNORECASE,
)
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_PLAIN_INT = re.compile(r"-?\d+")
_FENCE = re.compile(r"^```[\w-]*[ \t]*\n?(.*?)\n?```\s*$", re.DOTALL)
_FENCES = re.compile(r"```[\w-]*[ \t]*\n(.*?)(?:\n```|$)", re.DOTALL)
_NULLS = {"", "none", "null", "n/a", "nil"}
_TRUE = {"true", "yes", "y", "1", "correct"}
_FALSE = {"false", "no", "n", "0", "incorrect"}
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
# "Answer:", "The answer is", "Final answer -", "Option" ... before the value itself.
_ANSWER_PREFIX = re.compile(
    r"^(?:(?:the|my|your|final|correct|best|right)\s+)*(?:answer|option|choice|output|label|result)\b"
    r"(?:\s+to\s+(?:[\w-]+\s+){0,4}?question)?(?:\s+is\b)?\s*[:=\-–]?\s*",
    re.IGNORECASE,
)
_TRAILING = ".!;:,"

T = TypeVar("T")


class ValueParseError(ValueError):
    pass


# ------------------------------------------------------------------ coercion notes

_ACTIVE: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("lmp_coercions", default=None)


@contextmanager
def _capture() -> Iterator[list[str]]:
    """A fresh collector for this block; its notes are the caller's to keep or drop."""
    notes: list[str] = []
    token = _ACTIVE.set(notes)
    try:
        yield notes
    finally:
        _ACTIVE.reset(token)


@contextmanager
def recording_coercions() -> Iterator[list[str]]:
    """Collect the coercion notes of every parse inside the block (this thread or task only).

    A block that raises keeps nothing (a failed parse applied no coercion); a block that ends
    normally also passes its notes to an enclosing block, so a caller around a whole predictor
    call sees the notes of the attempt that succeeded."""
    with _capture() as notes:
        yield notes
    parent = _ACTIVE.get()
    if parent is not None:
        parent.extend(notes)


def _emit(notes: list[str] | None, local: list[str]) -> None:
    sink = notes if notes is not None else _ACTIVE.get()
    if sink is not None:
        sink.extend(local)


def record_coercion(note: str) -> None:
    """Record a coercion an adapter applied itself (e.g. a lone answer without its header)."""
    _emit(None, [note])


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _note(notes: list[str], path: str, raw: Any, value: Any, why: str) -> None:
    notes.append(f"{path or 'value'}: {_show(raw)} -> {_show(value)} ({why})")


def records_coercions(parse: Callable[..., T]) -> Callable[..., T]:
    """Wrap an adapter's `parse(self, signature, text, ...)`: the coercions of a successful parse go
    to the enclosing `recording_coercions()` block and to the history entry of the call whose
    response is `text`. The signature and return value stay as they are."""

    @functools.wraps(parse)
    def wrapper(self: Any, signature: Any, text: str, *args: Any, **kwargs: Any) -> T:
        with recording_coercions() as notes:
            out = parse(self, signature, text, *args, **kwargs)
        if notes:
            note_coercions(text, notes)
        return out

    return wrapper


# ------------------------------------------------------------------ text helpers


def _unwrap(text: str, trailing: str = "") -> tuple[str, list[str]]:
    """Remove a code fence, surrounding quotes/backticks and markdown emphasis (and the given
    trailing punctuation); returns the inner text and what was removed."""
    removed: list[str] = []
    text = text.strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1).strip()
        removed.append("code fence")
    for _ in range(4):
        if text.startswith("**") and text.endswith("**") and len(text) > 4:
            text, why = text[2:-2].strip(), "markdown"
        elif text.startswith("__") and text.endswith("__") and len(text) > 4:
            text, why = text[2:-2].strip(), "markdown"
        elif len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
            text, why = text[1:-1].strip(), "quotes"
        elif len(text) >= 2 and text[0] == text[-1] and text[0] in "*_":
            text, why = text[1:-1].strip(), "markdown"
        elif trailing and len(text) > 1 and text[-1] in trailing:
            text, why = text.rstrip(trailing).strip(), "trailing punctuation"
        else:
            break
        if why not in removed:
            removed.append(why)
    return text, removed


def strip_wrappers(text: str) -> str:
    """Remove code fences, surrounding quotes/backticks and markdown emphasis."""
    return _unwrap(text)[0]


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


# ------------------------------------------------------------------ literals


def _short(member: str) -> bool:
    """One-character members (`A`, `1`) are matched case-sensitively in prose and in another case
    only as a clear label (`b.`, `(b)`): otherwise the article `a` would count as option A."""
    return len(member.strip()) == 1


def _mentions(text: str, member: str) -> list[re.Match[str]]:
    if _short(member):
        pattern = r"(?<![\w'])" + re.escape(member) + r"(?![\w'])"
        if member in ("A", "I"):
            # "A heifer's master ...", "I think ...": the article and the pronoun, not an option.
            pattern += r"(?!\s+[a-z])"
        return list(re.finditer(pattern, text))
    words = r"\s+".join(re.escape(w) for w in member.split())
    return list(re.finditer(r"(?<!\w)" + words + r"(?!\w)", text, re.IGNORECASE))


def _mentioned(text: str, members: tuple[str, ...]) -> list[str]:
    """Members that occur in `text`, the longest winning where one contains another
    ("Economic" vs "Economic Events"), negated mentions ("not A") left out."""
    found: list[str] = []
    for m in members:
        for hit in _mentions(text, m):
            before = text[: hit.start()].lower()
            if re.search(r"(?:\bnot|\bnever|n't)\s+(?:\w+\s+)?$", before):
                continue
            found.append(m)
            break
    return [m for m in found if not any(m != o and _norm(m) in _norm(o) for o in found)]


def _label_mentioned(text: str, members: tuple[str, ...]) -> set[str]:
    """One-character members written as an option label (`B.`, `B)`, `(B)`, `B:`) anywhere in the
    text: two of them mean the model listed the options (`A. bank B. library ...`)."""
    out: set[str] = set()
    for m in members:
        pat = r"(?:^|(?<=[\s(\[*]))\(?" + re.escape(m) + r"(?:\)|[.:](?=\s|$))"
        if _short(m) and re.search(pat, text):
            out.add(m)
    return out


def _only_members(text: str, members: tuple[str, ...]) -> list[str] | None:
    """If the text is nothing but members and separators, the members in order; else None."""
    rest = text
    seen: list[str] = []
    for m in sorted(members, key=len, reverse=True):
        words = r"\s+".join(re.escape(w) for w in m.split())
        pattern = r"(?<!\w)" + words + r"(?!\w)"
        if re.search(pattern, rest, re.IGNORECASE):
            seen.append(m)
            rest = re.sub(pattern, " ", rest, flags=re.IGNORECASE)
    rest = re.sub(r"(?i)\b(?:or|and)\b", " ", rest)
    if seen and not re.search(r"\w", rest):
        return seen
    return None


def _match_whole(text: str, t: LiteralType) -> tuple[str, list[str]] | None:
    """The text itself is a member, up to wrappers, case and whitespace."""
    inner, removed = _unwrap(text, _TRAILING)
    if inner in t.members:
        return inner, removed
    by_norm: dict[str, list[str]] = {}
    for m in t.members:
        by_norm.setdefault(_norm(m), []).append(m)
    hits = by_norm.get(_norm(inner), [])
    if len(hits) != 1:
        return None
    hit = hits[0]
    if inner == hit:
        return hit, removed
    if inner.lower() == hit.lower():
        return hit, [*removed, "case"]
    if " ".join(inner.split()) == " ".join(hit.split()):
        return hit, [*removed, "whitespace"]
    return hit, [*removed, "case, whitespace"]


def _match_label(text: str, t: LiteralType, field: str) -> str | None:
    """`A. build trust`, `(B)`, `B)`, `Answer: C`, `**D** because ...`: one member as the label
    the answer starts with, no other member named after it."""
    s = re.sub(r"\*\*|__|`", "", text).strip()
    prefixes = [_ANSWER_PREFIX]
    if field:
        prefixes.append(re.compile(r"^" + re.escape(field.split(".")[-1].split("[")[0]) + r"\s*[:=\-–]\s*",
                                   re.IGNORECASE))
    for p in prefixes:
        stripped = p.sub("", s, count=1)
        if stripped != s and stripped:
            s = stripped
            break
    # A one-character member matches in another case only as a clear label (`a.`, `(a)`).
    labelled = re.match(r"^[(\[]?\s*\S\s*[.):\]]", s) is not None
    for m in sorted(t.members, key=len, reverse=True):
        words = r"\s+".join(re.escape(w) for w in m.split())
        flags = re.DOTALL | (re.IGNORECASE if labelled or not _short(m) else 0)
        hit = re.match(r"^(?P<open>[(\[])?\s*" + words + r"\s*(?(open)[)\]])(?P<rest>.*)$", s, flags)
        if not hit:
            continue
        rest = hit.group("rest")
        opened = hit.group("open") is not None
        if not (rest.strip() == "" or re.match(r"^\s*[.):,\-–]", rest) or (opened and re.match(r"^\s", rest))):
            continue
        others = [o for o in t.members if o != m and _norm(m).find(_norm(o)) < 0]
        if _mentioned(rest, tuple(others)) or _label_mentioned(rest, tuple(others)):
            return None
        return m
    return None


def _parse_literal(text: str, t: LiteralType, path: str, notes: list[str]) -> str:
    members = t.members
    stripped = text.strip()
    if stripped in members:
        return stripped
    whole = _match_whole(stripped, t)
    if whole is not None:
        _note(notes, path, text, whole[0], ", ".join(whole[1]) or "whitespace")
        return whole[0]
    allowed = ", ".join(json.dumps(m) for m in members)
    shown = repr(stripped[:80])
    listed = _only_members(stripped, members)
    if listed is not None and len(listed) >= 2:
        raise ValueParseError(
            f"{shown} lists several of the allowed values instead of choosing one; write only one of: {allowed}")
    if listed is not None and len(listed) == 1 and len(_mentions(stripped, listed[0])) > 1:
        _note(notes, path, text, listed[0], "repeated")
        return listed[0]
    labels = _label_mentioned(stripped, members)
    if len(labels) >= 2:
        raise ValueParseError(
            f"{shown} names several options ({', '.join(sorted(labels))}); write only one of: {allowed}")
    label = _match_label(stripped, t, path)
    if label is not None:
        _note(notes, path, text, label, "answer label")
        return label
    lines = [ln for ln in stripped.splitlines() if ln.strip()]
    if len(lines) > 1:
        first = _match_whole(lines[0], t)
        hit = first[0] if first is not None else _match_label(lines[0], t, path)
        if hit is not None:
            _note(notes, path, text, hit, "first line")
            return hit
    found = _mentioned(stripped, members)
    if len(found) == 1 and (not _short(found[0]) or _short_answer_in_prose(stripped, found[0], labels)):
        _note(notes, path, text, found[0], "found in text")
        return found[0]
    if len(found) > 1:
        raise ValueParseError(
            f"{shown} mentions several allowed values ({', '.join(found)}); write only one of: {allowed}")
    raise ValueParseError(f"{shown} is not one of the allowed values: {allowed}")


def _short_answer_in_prose(text: str, member: str, labels: set[str]) -> bool:
    """A lone capital `B` in a long text may be anything (an initial, a grade); it is the answer
    when the text is short, writes it as a label, or talks about an answer or option."""
    return (len(text) <= 40 or member in labels
            or re.search(r"(?i)\b(?:answer|option|choice)\b", text) is not None)


def normalize_literal(text: str, t: LiteralType, path: str = "", notes: list[str] | None = None) -> str:
    """The member of `t` the text means (see the module docstring), or ValueParseError."""
    local: list[str] = []
    value = _parse_literal(text, t, path, local)
    _emit(notes, local)
    return value


# ------------------------------------------------------------------ numbers and booleans


def _to_number(raw: str) -> float:
    return float(raw.replace(",", ""))


def _expr_value(m: re.Match[str], integer: bool) -> tuple[float, str | None]:
    a = _to_number(m.group("a"))
    if m.group("pct"):
        return (a, "percent sign dropped") if integer else (a / 100.0, "percent")
    if m.group("b") is not None:
        b = _to_number(m.group("b"))
        if integer or b == 0:
            raise ValueParseError(f"expected {'an integer' if integer else 'a number'}, got the fraction {m.group(0)!r}")
        return a / b, "fraction"
    return a, None


def _finish_number(value: float, integer: bool, raw: str) -> int | float:
    if not math.isfinite(value):
        raise ValueParseError(f"expected a finite number, got {raw.strip()[:40]}")
    if integer:
        if value != int(value):
            raise ValueParseError(f"expected an integer, got {raw.strip()}")
        return int(value)
    return value


def _parse_number(text: str, integer: bool, path: str, notes: list[str], why: list[str] | None = None) -> int | float:
    kind = "integer" if integer else "number"
    if not why and (_PLAIN_INT if integer else _PLAIN_NUMBER).fullmatch(text.strip()):
        # The canonical form (what demos show and constrained decoding writes): no note, no search;
        # ints exactly (a float would round 20-digit ids).
        return int(text) if integer else _finish_number(float(text), integer, text)
    why = list(why or [])
    inner, removed = _unwrap(text, ".!;")
    why += removed
    word = inner.lower().rstrip(".!")
    if word in _NUMBER_WORDS:
        value = _NUMBER_WORDS[word]
        _note(notes, path, text, value if integer else float(value), ", ".join([*why, "number word"]))
        return value if integer else float(value)
    whole = _NUM_EXPR.fullmatch(inner)
    if whole is None:
        lines = [ln for ln in inner.splitlines() if ln.strip()]
        first = _NUM_EXPR.fullmatch(_unwrap(lines[0], ".!;")[0]) if len(lines) > 1 else None
        if first is not None:
            whole, why = first, [*why, "first line"]
    if whole is not None:
        value, how = _expr_value(whole, integer)
        if how:
            why.append(how)
        if "," in whole.group("a"):
            why.append("thousands separator")
        out = _finish_number(value, integer, whole.group(0))
        if integer and isinstance(value, float) and "." in whole.group("a"):
            why.append("integer-valued")
        if why:
            _note(notes, path, text, out, ", ".join(why))
        return out
    found = list(_NUM_EXPR.finditer(inner))
    distinct = {m.group(0) for m in found}
    if not found:
        raise ValueParseError(f"expected a single {kind}, got {inner[:80]!r}")
    if len(distinct) > 1:
        raise ValueParseError(f"expected a single {kind}, got several ({', '.join(sorted(distinct))}) in {inner[:80]!r}")
    value, how = _expr_value(found[0], integer)
    out = _finish_number(value, integer, found[0].group(0))
    _note(notes, path, text, out, ", ".join([*why, *([how] if how else []), "number found in text"]))
    return out


def parse_number(text: str, integer: bool, path: str = "", notes: list[str] | None = None) -> int | float:
    local: list[str] = []
    value = _parse_number(text, integer, path, local)
    _emit(notes, local)
    return value


def _parse_bool(text: str, path: str, notes: list[str], why: list[str] | None = None) -> bool:
    stripped = text.strip()
    if stripped in ("true", "false"):
        if why:
            _note(notes, path, text, stripped == "true", ", ".join(why))
        return stripped == "true"
    inner, removed = _unwrap(stripped, _TRAILING)
    reasons = [*(why or []), *removed]
    unlabelled = _ANSWER_PREFIX.sub("", inner, count=1)
    if unlabelled and unlabelled != inner:
        inner, reasons = unlabelled, [*reasons, "answer label"]
    word = inner.lower()
    if word in _TRUE or word in _FALSE:
        value = word in _TRUE
        _note(notes, path, text, value, ", ".join([*reasons, "case" if word in ("true", "false") else "word"]))
        return value
    first = re.match(r"^(\w+)\s*[,.;:!\-–]", word)
    if first and (first.group(1) in _TRUE or first.group(1) in _FALSE):
        value = first.group(1) in _TRUE
        labelled = ["answer label"] if "answer label" in reasons else []
        _note(notes, path, text, value, ", ".join([*(why or []), *labelled, "first word"]))
        return value
    raise ValueParseError(f"expected true or false, got {stripped[:80]!r}")


def parse_bool(text: str, path: str = "", notes: list[str] | None = None) -> bool:
    local: list[str] = []
    value = _parse_bool(text, path, local)
    _emit(notes, local)
    return value


# ------------------------------------------------------------------ JSON, leniently


class _Incomplete(Exception):
    """The text ended inside a number, a bare word or a key: the value cannot be known."""


class _Lenient:
    """A JSON reader that accepts what models write around JSON and says what it repaired."""

    MAX_DEPTH = 100

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.depth = 0
        self.repairs: list[str] = []

    def repaired(self, what: str) -> None:
        if what not in self.repairs:
            self.repairs.append(what)

    def fail(self, what: str) -> ValueParseError:
        line = self.s.count("\n", 0, self.i) + 1
        col = self.i - (self.s.rfind("\n", 0, self.i) + 1) + 1
        near = self.s[self.i : self.i + 20]
        return ValueParseError(f"invalid JSON at line {line}, column {col}: {what} (near {near!r})")

    def ws(self) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c.isspace():
                self.i += 1
            elif s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end + 1
                self.repaired("comments")
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = len(s) if end < 0 else end + 2
                self.repaired("comments")
            else:
                break

    def at_end(self) -> bool:
        self.ws()
        return self.i >= len(self.s)

    def value(self) -> Any:
        self.ws()
        if self.i >= len(self.s):
            raise _Incomplete
        c = self.s[self.i]
        if c in "{[":
            if self.depth >= self.MAX_DEPTH:
                raise self.fail(f"nested deeper than {self.MAX_DEPTH} levels")
            self.depth += 1
            try:
                return self.obj() if c == "{" else self.arr()
            finally:
                self.depth -= 1
        if c in "\"'":
            return self.string()
        if c in "-+.0123456789":
            return self.number()
        return self.bare()

    def obj(self) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            if self.at_end():
                self.repaired("truncated: closed an object")
                return out
            c = self.s[self.i]
            if c == "}":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == "}":
                    self.repaired("trailing comma")
                continue
            start = self.i
            try:
                key = self.key()
                self.ws()
                if self.i >= len(self.s):
                    raise _Incomplete
                if self.s[self.i] != ":":
                    raise self.fail("expected ':' after a key")
                self.i += 1
                value = self.value()
            except _Incomplete:
                self.i = len(self.s)
                self.repaired(f"truncated: dropped the incomplete entry {self.s[start:start + 30].strip()!r}")
                return out
            out[key] = value
            self.ws()
            if self.i < len(self.s) and self.s[self.i] not in ",}":
                raise self.fail("expected ',' or '}'")

    def key(self) -> str:
        c = self.s[self.i]
        if c in "\"'":
            if self._unterminated(c):
                raise _Incomplete
            return self.string()
        m = re.compile(r"[A-Za-z_$][\w$\-]*").match(self.s, self.i)
        if not m:
            raise self.fail("expected a key")
        self.i = m.end()
        if self.i >= len(self.s):
            raise _Incomplete
        self.repaired("unquoted keys")
        return m.group(0)

    def _unterminated(self, quote: str) -> bool:
        j = self.i + 1
        while j < len(self.s):
            if self.s[j] == "\\":
                j += 2
                continue
            if self.s[j] == quote:
                return False
            j += 1
        return True

    def arr(self) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            if self.at_end():
                self.repaired("truncated: closed an array")
                return out
            c = self.s[self.i]
            if c == "]":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == "]":
                    self.repaired("trailing comma")
                continue
            before = len(self.repairs)
            try:
                item = self.value()
            except _Incomplete:
                item = _Incomplete
            if item is _Incomplete or any(r.startswith("truncated") for r in self.repairs[before:]):
                # A list's items are a sequence: the ones before the cut are whole, the cut one is not.
                del self.repairs[before:]
                self.i = len(self.s)
                self.repaired("truncated: dropped an incomplete item")
                self.repaired("truncated: closed an array")
                return out
            out.append(item)
            self.ws()
            if self.i < len(self.s) and self.s[self.i] not in ",]":
                raise self.fail("expected ',' or ']'")

    _ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}

    def string(self) -> str:
        quote = self.s[self.i]
        if quote == "'":
            self.repaired("single quotes")
        self.i += 1
        out: list[str] = []
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == quote:
                self.i += 1
                return "".join(out)
            if c == "\\" and self.i + 1 < len(s):
                e = s[self.i + 1]
                if e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[self.i + 2 : self.i + 6]):
                    out.append(chr(int(s[self.i + 2 : self.i + 6], 16)))
                    self.i += 6
                    continue
                out.append(self._ESCAPES.get(e, "\\" + e))
                self.i += 2
                continue
            out.append(c)
            self.i += 1
        self.repaired("truncated: closed a string")
        return "".join(out)

    def number(self) -> int | float:
        m = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?").match(self.s, self.i)
        if not m:
            raise self.fail("expected a number")
        self.i = m.end()
        if self.i >= len(self.s):
            raise _Incomplete  # `12` at the very end may have been `123`
        raw = m.group(0)
        if raw.startswith("+") or raw.startswith(".") or raw.endswith("."):
            self.repaired("number format")
        value = float(raw)
        if re.fullmatch(r"[-+]?\d+", raw):
            return int(raw)
        return value

    def bare(self) -> Any:
        m = re.compile(r"[A-Za-z_][^,}\]\n:\"']*").match(self.s, self.i)
        if not m:
            raise self.fail("unexpected character")
        self.i = m.end()
        word = m.group(0).strip()
        if self.i >= len(self.s) and word not in ("true", "false", "null", "True", "False", "None"):
            raise _Incomplete
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        if word in ("True", "False", "None"):
            self.repaired("Python literals")
            return {"True": True, "False": False, "None": None}[word]
        if self.i < len(self.s) and self.s[self.i] == ":":
            raise self.fail("expected a value")
        self.repaired("unquoted strings")
        return word


def _lenient_load(text: str, whole: bool) -> tuple[Any, list[str]]:
    """Read one JSON value from the start of `text`; with `whole`, nothing but comments may follow."""
    reader = _Lenient(text)
    try:
        value = reader.value()
    except _Incomplete:
        raise ValueParseError("the JSON ends before its first value") from None
    if whole and not reader.at_end():
        raise reader.fail("text after the JSON value")
    return value, reader.repairs


def _candidates(text: str) -> Iterator[tuple[str, str, bool]]:
    """(text, where it came from, whether the rest must be empty), in the order they are tried:
    each code fence, the whole text, then each object or array inside prose."""
    stripped = text.strip()
    fences = [m.group(1) for m in _FENCES.finditer(stripped)]
    for n, body in enumerate(fences):
        yield body.strip(), ("code fence" if len(fences) == 1 else f"code fence {n + 1} of {len(fences)}"), True
    yield stripped, "", True
    seen = 0
    for m in re.finditer(r"[{\[]", stripped):
        if seen >= 20:
            break
        span = stripped[m.start():]
        if re.match(r"\[\s*\d+\s*\]", span) or span.startswith("[["):
            continue  # `[1]` citation markers and `[[ ## field ## ]]` headers are not JSON
        seen += 1
        yield span, "text around the JSON", False


def load_structured(text: str, notes: list[str] | None = None, *, path: str = "",
                    validate: Callable[[Any], T] | None = None) -> Any:
    """JSON (leniently repaired) from the text: each code fence, the whole text, then objects or
    arrays in prose. With `validate`, the first candidate it accepts wins (a `ValueError` from it
    moves on to the next) and its result is returned; when none is accepted the first validation
    error is raised."""
    first_error: ValueError | None = None
    tried: set[str] = set()
    for body, where, whole in _candidates(text):
        if not body or body in tried:
            continue
        tried.add(body)
        local: list[str] = []
        repairs: list[str] = []
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            try:
                data, repairs = _lenient_load(body, whole)
            except ValueParseError:
                continue
            if repairs:
                local.append(f"{path or 'output'}: JSON repaired ({', '.join(repairs)})")
        if where:
            local.append(f"{path or 'output'}: JSON taken from the {where}")
        if validate is None:
            _emit(notes, local)
            return data
        with _capture() as inner:
            try:
                result = validate(data)
            except ValueError as exc:
                if first_error is None:
                    cut = any(r.startswith("truncated") for r in repairs)
                    first_error = (ValueParseError(f"{exc} (the JSON was cut off at the end)")
                                   if cut and type(exc) is ValueParseError else exc)
                continue
        _emit(notes, local + inner)
        return result
    if first_error is not None:
        raise first_error
    raise ValueParseError(f"expected JSON, got {text.strip()[:120]!r}")


# ------------------------------------------------------------------ parse_text


def parse_text(text: str, t: Type, path: str = "", notes: list[str] | None = None) -> Any:
    """Parse one output section's text into a value of type `t`; coercions go to `notes` (or the
    active `recording_coercions()` block). `path` names the field in notes and errors."""
    local: list[str] = []
    value = _parse_text(text, t, path, local)
    _emit(notes, local)
    return value


def _parse_text(text: str, t: Type, path: str, notes: list[str]) -> Any:
    if isinstance(t, OptionalType):
        inner, _ = _unwrap(text, ".")
        if inner.lower() in _NULLS:
            if inner != "null":
                _note(notes, path, text, None, "null word" if inner else "empty answer")
            return None
        return _parse_text(text, t.inner, path, notes)
    if isinstance(t, AnyType):
        try:
            return _load_into(text, t, path, notes)
        except ValueParseError:
            return text.strip()
    if isinstance(t, PrimType):
        if t.name == "str":
            return text.strip()
        if t.name in ("int", "float"):
            return _parse_number(text, t.name == "int", path, notes)
        return _parse_bool(text, path, notes)
    if isinstance(t, LiteralType):
        return _parse_literal(text, t, path, notes)
    if isinstance(t, NoneType):
        return None
    if isinstance(t, ListType) and _scalar(t.item):
        return _parse_scalar_list(text, t, path, notes)
    return _load_into(text, t, path, notes)


def _scalar(t: Type) -> bool:
    return isinstance(strip_optional(t), PrimType | LiteralType)


def _load_into(text: str, t: Type, path: str, notes: list[str]) -> Any:
    return load_structured(text, notes, path=path, validate=lambda data: _coerce(data, t, path, None))


_BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|\(\d+\)|\[\d+\])\s+")


def _parse_scalar_list(text: str, t: ListType, path: str, notes: list[str]) -> Any:
    stripped = text.strip()
    unfenced, _ = _unwrap(stripped)
    json_error: ValueError | None = None
    if unfenced.startswith("[") or "```" in stripped:
        try:
            return load_structured(stripped, notes, path=path, validate=lambda d: _coerce(d, t, path, None))
        except ValueError as exc:
            json_error = exc
    lines = [ln for ln in unfenced.splitlines() if ln.strip()]
    items: list[str] | None = None
    why = ""
    if lines and any(_BULLET.match(ln) for ln in lines):
        body = lines[1:] if not _BULLET.match(lines[0]) and lines[0].rstrip().endswith(":") else lines
        if body and all(_BULLET.match(ln) for ln in body):
            items = [_BULLET.sub("", ln).strip() for ln in body]
            why = "bulleted lines" + (", introductory line dropped" if body is not lines else "")
    if items is None and json_error is None and "[" in stripped:
        try:
            return load_structured(stripped, notes, path=path, validate=lambda d: _coerce(d, t, path, None))
        except ValueError as exc:
            json_error = exc
    if items is None and len(lines) == 1:
        line = lines[0].strip()
        parts = [p.strip() for p in re.split(r"\s*;\s*|,\s+|,(?!\d{3}\b)", line)]
        if len(parts) > 1:
            if parts[-1].lower().startswith("and "):
                parts[-1] = parts[-1][4:].strip()
            items, why = [p for p in parts if p], "comma-separated line"
        else:
            items, why = [line], "one line read as a one-item list"
    if items is None and not lines:
        items, why = [], "empty answer"
    if items is None:
        if json_error is not None:
            raise json_error
        raise ValueParseError(f"expected a JSON array or one item per line, got {stripped[:80]!r}")
    inner: list[str] = []
    try:
        # Each item is text, read like a one-field answer of the item type.
        values = [_parse_text(item, t.item, f"{path}[{i}]", inner) for i, item in enumerate(items)]
        value = _coerce(values, t, path, inner)
    except ValueError:
        if json_error is not None:
            raise json_error from None
        raise
    _note(notes, path, stripped, value, why)
    notes.extend(inner)
    return value


# ------------------------------------------------------------------ coerce (structured data)


def coerce(value: Any, t: Type, path: str = "", notes: list[str] | None = None) -> Any:
    """Normalize already-structured data (from JSON) to type `t`, then validate it with pydantic
    and jsonschema; returns run-time values (Records for record types)."""
    local: list[str] = []
    out = _coerce(value, t, path, local)
    _emit(notes, local)
    return out


def _coerce(value: Any, t: Type, path: str, notes: list[str] | None) -> Any:
    local: list[str] = []
    normalized = _normalize(value, t, path, local)
    _validate(normalized, t)
    _emit(notes, local)
    return wrap(normalized, t)


def _normalize(value: Any, t: Type, path: str, notes: list[str]) -> Any:
    where = f" at `{path}`" if path else ""
    if isinstance(t, OptionalType):
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() in _NULLS:
            _note(notes, path, value, None, "null word")
            return None
        return _normalize(value, t.inner, path, notes)
    if isinstance(t, LiteralType):
        if not isinstance(value, str):
            raw = value
            value = json.dumps(value) if isinstance(value, bool) or value is None else str(value)
            if value in t.members:
                _note(notes, path, raw, value, "as text")
                return value
        try:
            return _parse_literal(value, t, path, notes)
        except ValueParseError as exc:
            raise ValueParseError(f"{exc}{where}") from None
    if isinstance(t, PrimType):
        if t.name == "str":
            if isinstance(value, str):
                return value
            text = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict | bool) or value is None \
                else str(value)
            _note(notes, path, value, text, "as text")
            return text
        if t.name in ("int", "float"):
            integer = t.name == "int"
            if isinstance(value, str):
                try:
                    return _parse_number(value, integer, path, notes, why=["string"])
                except ValueParseError as exc:
                    raise ValueParseError(f"{exc}{where}") from None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueParseError(f"expected a number{where}, got {json.dumps(value, default=str)[:60]}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueParseError(f"expected a finite number{where}, got {value}")
            if integer and isinstance(value, float):
                if value != int(value):
                    raise ValueParseError(f"expected an integer{where}, got {value}")
                _note(notes, path, value, int(value), "integer-valued")
                return int(value)
            return float(value) if not integer else value
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return _parse_bool(value, path, notes, why=["string"])
            except ValueParseError as exc:
                raise ValueParseError(f"{exc}{where}") from None
        if isinstance(value, int | float) and value in (0, 1):
            _note(notes, path, value, bool(value), "number")
            return bool(value)
        raise ValueParseError(f"expected true or false{where}, got {json.dumps(value, default=str)[:60]}")
    if isinstance(t, ListType):
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ValueParseError(f"expected a JSON array{where}, got {json.dumps(value, default=str)[:60]}")
        return [_normalize(v, t.item, f"{path}[{i}]", notes) for i, v in enumerate(value)]
    if isinstance(t, DictType | RecordType) and isinstance(value, str) and value.strip()[:1] == "{":
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            notes.append(f"{path or 'value'}: JSON object read from inside a string")
            value = decoded
    if isinstance(t, DictType):
        if not isinstance(value, dict):
            raise ValueParseError(f"expected a JSON object{where}")
        return {str(k): _normalize(v, t.value, f"{path}.{k}" if path else str(k), notes) for k, v in value.items()}
    if isinstance(t, RecordType):
        if not isinstance(value, dict):
            raise ValueParseError(f"expected a JSON object with fields {', '.join(f.name for f in t.fields)}{where}")
        out: dict[str, Any] = {}
        keys = {str(k): k for k in value}
        lowered = {str(k).lower(): k for k in value}
        used: set[str] = set()
        for f in t.fields:
            sub = f"{path}.{f.name}" if path else f.name
            key = keys.get(f.name)
            if key is None and f.name.lower() in lowered:
                key = lowered[f.name.lower()]
                notes.append(f"{sub}: read from the key {json.dumps(str(key))} (case)")
            if key is not None:
                used.add(str(key))
            if key is None:
                if isinstance(f.type, OptionalType):
                    notes.append(f"{sub}: missing -> null (optional)")
                    out[f.name] = None
                    continue
                raise ValueParseError(f"missing field `{sub}`")
            out[f.name] = _normalize(value[key], f.type, sub, notes)
        extra = [str(k) for k in value if str(k) not in used]
        if extra:
            notes.append(f"{path or 'value'}: ignored unknown key(s) {', '.join(extra)}")
        return out
    return value


def _validate(value: Any, t: Type) -> None:
    if not isinstance(t, ListType | DictType | RecordType | OptionalType):
        return
    import jsonschema
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(python_type(t)).validate_python(value, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ValueParseError(f"{first['msg']}" + (f" at `{loc}`" if loc else "")) from None
    try:
        jsonschema.validate(value, t.json_schema())
    except jsonschema.ValidationError as exc:
        loc = ".".join(str(x) for x in exc.absolute_path)
        raise ValueParseError(exc.message + (f" at `{loc}`" if loc else "")) from None
