"""Parse, print, then prove the printed text means the same before handing it out."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from lmp.fmt.printer import Printer, paren_is_redundant
from lmp.ir.lower import string_value
from lmp.syntax.parser import parse
from lmp.syntax.tree import Token, Tree


class FormatError(Exception):
    """The text cannot be formatted: a syntax error (with its position), or a formatter bug
    caught by the safety check (the file is then left as it is)."""

    user_facing = True

    def __init__(self, message: str, path: str = "<memory>", line: int | None = None,
                 col: int | None = None) -> None:
        self.path = path
        self.line = line  # 1-based, when the error has a position
        self.col = col
        self.message = message
        where = f"{path}:{line}:{col}" if line is not None else path
        super().__init__(f"{where}: {message}")


def cst_dump(node: Tree | Token) -> object:
    """The syntax tree without positions, layout or quoting: strings compare by value, and
    punctuation the grammar drops (parentheses, commas, `=` vs `:` in arguments) is absent."""
    if isinstance(node, Tree):
        if (node.data == "binary" and len(node.children) == 1) or (
                node.data == "paren" and paren_is_redundant(node)):  # `(x)` is `x`
            return cst_dump(node.children[0])
        return (node.data, tuple(cst_dump(c) for c in node.children))
    if node.type in ("STRING", "DOCSTRING"):
        return ("s", string_value(node))
    return (node.type, str(node))


def _unwrap(node: object) -> object:
    while isinstance(node, Tree) and ((node.data == "binary" and len(node.children) == 1) or (
            node.data == "paren" and paren_is_redundant(node))):
        node = node.children[0]
    return node


def same_trees(a: list, b: list) -> bool:
    """`[cst_dump(x) for x in a] == [cst_dump(y) for y in b]`, walked in step without building dumps."""
    if len(a) != len(b):
        return False
    stack = list(zip(a, b, strict=True))
    while stack:
        x, y = stack.pop()
        x, y = _unwrap(x), _unwrap(y)
        if isinstance(x, Tree):
            if not isinstance(y, Tree) or x.data != y.data or len(x.children) != len(y.children):
                return False
            stack.extend(zip(x.children, y.children, strict=True))
        elif isinstance(y, Tree) or x.type != y.type:
            return False
        elif x.type in ("STRING", "DOCSTRING"):
            if string_value(x) != string_value(y):
                return False
        elif str(x) != str(y):
            return False
    return True


# Comments are found here rather than taken from the lexer, so that the formatter does not depend
# on how the parser collects them: a `#` outside a string runs to the end of its line.
_SCAN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*', re.DOTALL)


@dataclass(slots=True)
class Comment:
    start_pos: int
    text: str

    def __str__(self) -> str:
        return self.text


def find_comments(text: str) -> list[Comment]:
    return [Comment(m.start(), m.group().rstrip()) for m in _SCAN.finditer(text) if m.group()[0] == "#"]


def declarations(trees: list[Tree]) -> list[Tree]:
    """The top-level declarations of a parse (one tree or several), in source order."""
    decls = [c for t in trees for c in t.children if isinstance(c, Tree)]
    decls.sort(key=lambda d: d.meta.start_pos)
    return decls


_cache: OrderedDict[str, str] = OrderedDict()
_cache_lock = Lock()
_CACHE_SIZE = 16


def format_source(text: str, path: str = "<memory>") -> str:
    """The canonical layout of `text`. Raises FormatError (see the class)."""
    with _cache_lock:
        hit = _cache.get(text)
        if hit is not None:
            _cache.move_to_end(text)
            return hit
    out = _format(text, path)
    with _cache_lock:
        _cache[text] = out
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return out


def is_formatted(text: str, path: str = "<memory>") -> bool:
    return format_source(text, path) == text


def _first_error(diagnostics: list, path: str) -> FormatError:
    d = min(diagnostics, key=lambda d: d.span.start)
    return FormatError(d.message, path, d.span.line + 1, d.span.col + 1)


def _format(text: str, path: str) -> str:
    parsed = parse(text)
    if parsed.diagnostics:
        raise _first_error(parsed.diagnostics, path)
    decls = declarations(parsed.trees)
    clean = text.replace("\x00", " ")
    comments = find_comments(clean)
    try:
        out = Printer(clean, comments).file(decls)
    except RecursionError:
        raise FormatError("nesting too deep to format", path) from None
    except Exception as exc:  # noqa: BLE001 - a printer bug must not reach the editor as a traceback
        raise FormatError(f"internal error: cannot format this file ({type(exc).__name__}: {exc}); "
                          "please report it", path) from exc
    if out == text:
        return out
    try:
        _verify(decls, comments, out, path)
    except RecursionError:
        raise FormatError("nesting too deep to format", path) from None
    return out


def _verify(decls: list[Tree], comments: list[Comment], out: str, path: str) -> None:
    again = parse(out)
    if again.diagnostics:
        d = min(again.diagnostics, key=lambda d: d.span.start)
        raise FormatError(f"internal error: the formatted text does not parse ({d.message} at line "
                          f"{d.span.line + 1}); the file was left unchanged, please report it", path)
    if not same_trees(decls, declarations(again.trees)):
        raise FormatError("internal error: formatting would change the program's meaning; the file was "
                          "left unchanged, please report it", path)
    if [c.text for c in comments] != [c.text for c in find_comments(out)]:
        raise FormatError("internal error: formatting would lose or reorder a comment; the file was left "
                          "unchanged, please report it", path)


_SKIP = frozenset({"path", "text", "comments", "expr_types", "imported", "resolved"})


def ir_dump(value: object) -> object:
    """A span-free structural dump of an IR value (a Program, declaration, statement, ...):
    what formatting must leave unchanged. Used by the tests; the formatter's own safety check
    compares syntax trees (`cst_dump`), which also covers declarations the IR rejects."""
    import dataclasses

    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return [ir_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: ir_dump(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        from lmp.ir.types import Type

        if isinstance(value, Type):
            return repr(value)
        out: dict[str, object] = {"_": type(value).__name__}
        for f in dataclasses.fields(value):
            if f.name in _SKIP or f.name.endswith(("span", "spans")):  # positions, one or a collection
                continue
            out[f.name] = ir_dump(getattr(value, f.name))
        return out
    return repr(value)
