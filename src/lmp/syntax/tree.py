"""lmp's syntax tree: `Tree`, `Token` and the offsets a tree spans.

Both parsing engines build these (`lmp.syntax.engine`): Lark's, told to use this `Tree` class, and the
lean one (`lmp.syntax.lalr`), which must not import Lark at all. Lowering, the formatter and the
language server read trees through this module only, so they never depend on which engine ran.

A token is anything with `type`, `value`, `start_pos` and `end_pos`: Lark's own, lark_cython's, or
this `Token`. Lines and columns are not kept (they come from `lmp.syntax.positions`, by offset).
"""

from __future__ import annotations

from collections.abc import Iterator


class Offsets:
    """A tree's `meta`: where it starts and ends in the parsed text. Lark's `Meta` keeps a
    per-instance dict (about 200 bytes); a file has one per syntax node."""

    __slots__ = ("start_pos", "end_pos", "empty")

    def __init__(self, start_pos: int = 0, end_pos: int = 0, empty: bool = False) -> None:
        self.start_pos = start_pos
        self.end_pos = end_pos
        self.empty = empty


class Tree:
    """A syntax node: the rule's name (`data`), its children (trees and tokens) and its offsets.
    Compatible with what Lark's tree builder calls (`Tree(data, children)`) and reads (`children`)."""

    __slots__ = ("data", "children", "_meta")

    def __init__(self, data: str, children: list, meta: Offsets | None = None) -> None:
        self.data = data
        self.children = children
        self._meta = meta

    @property
    def meta(self) -> Offsets:
        if self._meta is None:
            self._meta = Offsets(empty=True)
        return self._meta

    def iter_subtrees(self) -> Iterator[Tree]:
        """Every subtree once, children before their parents (Lark's order)."""
        seen: dict[int, Tree] = {}
        queue: list[Tree] = [self]
        for node in queue:  # the list grows while it is walked: a breadth-first listing, reversed below
            seen[id(node)] = node
            queue.extend(c for c in reversed(node.children) if type(c) is Tree and id(c) not in seen)
        return reversed(list(seen.values()))

    def iter_subtrees_topdown(self) -> Iterator[Tree]:
        """Every subtree, parents before children, depth first (Lark's order)."""
        stack: list[object] = [self]
        while stack:
            node = stack.pop()
            if type(node) is not Tree:
                continue
            yield node
            stack.extend(reversed(node.children))

    def pretty(self, indent: str = "  ") -> str:
        lines: list[str] = []
        stack: list[tuple[object, int]] = [(self, 0)]
        while stack:
            node, depth = stack.pop()
            if type(node) is Tree:
                lines.append(f"{indent * depth}{node.data}")
                stack.extend((c, depth + 1) for c in reversed(node.children))
            else:
                lines.append(f"{indent * depth}{getattr(node, 'value', node)!s}")
        return "\n".join(lines) + "\n"

    def __eq__(self, other: object) -> bool:
        return (type(other) is Tree and self.data == other.data
                and [_plain(c) for c in self.children] == [_plain(c) for c in other.children])

    def __hash__(self) -> int:
        return hash((self.data, tuple(_plain(c) for c in self.children)))

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


def _plain(node: object) -> object:
    return node if type(node) is Tree else getattr(node, "value", node)


class Token:
    """A token of the lean engine. Same constructor as Lark's `Token`, so code that re-creates a token
    with `type(tok)(...)` works for every engine's tokens."""

    __slots__ = ("type", "value", "start_pos", "end_pos", "line", "column", "end_line", "end_column")

    def __init__(self, type: str, value: str, start_pos: int | None = None, line: int | None = None,  # noqa: A002
                 column: int | None = None, end_line: int | None = None, end_column: int | None = None,
                 end_pos: int | None = None) -> None:
        self.type = type
        self.value = value
        self.start_pos = start_pos
        self.end_pos = end_pos
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column

    def __str__(self) -> str:
        return self.value

    def __eq__(self, other: object) -> bool:
        # As Lark's tokens (a `str` subclass): equal to the same text, whatever their type.
        return self.value == getattr(other, "value", other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"


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


def set_offsets(res: object, children: list) -> None:
    """Give `res`, just built from `children` by a reduction, the offsets its children span (when it is
    a tree without offsets yet). Lark's position propagation, reduced to what lmp reads: start and end
    offsets. Called on every reduction (~40 per line): the first and last child are looked at inline;
    the loops only run when an end child has no position (an empty subtree)."""
    if type(res) is not Tree or not children:
        return
    meta = res._meta
    if meta is not None and not meta.empty:
        return
    first = children[0]
    if type(first) is Tree:
        m = first._meta
        start = None if m is None or m.empty else m.start_pos
    else:
        start = getattr(first, "start_pos", None)
    if start is None:
        for c in children:
            start = _start_of(c)
            if start is not None:
                break
    last = children[-1]
    if type(last) is Tree:
        m = last._meta
        end = None if m is None or m.empty else m.end_pos
    else:
        end = getattr(last, "end_pos", None)
    if end is None:
        for c in reversed(children):
            end = _end_of(c)
            if end is not None:
                break
    if start is not None and end is not None:
        res._meta = Offsets(start, end)
