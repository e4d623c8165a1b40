"""The canonical printer: a parsed `.lmp` syntax tree plus its comments -> text.

The printer works from the syntax tree that the IR is lowered from (not from the IR itself):
the IR resolves type names, folds model settings to constants and drops declarations it
rejects, so printing it back would rewrite or lose source. Meaning is guarded afterwards by
`lmp.fmt.safety`, which compares the structure of the input and of the output.

Layout rules (documented in docs/language.md, "Canonical layout"):

- 2-space indents; one blank line between top-level declarations, except that consecutive
  one-line declarations of the same keyword written without a blank line stay together;
  inside blocks, blank lines between statements are kept, at most one.
- No column alignment, except that `in` is padded to the width of `out` (`in  question: str`).
- Keyword arguments, record values and example/model settings are written `name: value`;
  `true`, `false`, `none` are lowercase; strings use double quotes with the escapes
  `\\\\ \\" \\n \\t \\r \\0` only; signature docstrings are written `\"\"\"...\"\"\"`.
- Brackets ( call arguments, lists, records, parameters ) stay on one line when they fit in
  `WIDTH` columns and hold no comment; otherwise one element per line with a trailing comma.
  A top-level union of a type declaration or field is broken the same way, one `| member`
  per line. Record types are always written one field per line.
- Parentheses: `(x)` around a single operand is dropped; grouping parentheses are kept as written.
- Comments: a comment on a line of its own stays before the line (declaration, statement,
  field, element) that follows it; a comment after code stays at the end of that code's last
  line. A comment that sits inside an expression that has no line of its own is moved to the
  line before its statement (never dropped).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from lmp.ir.lower import string_value
from lmp.syntax.tree import Token, Tree

WIDTH = 100
IND = "  "


@dataclass(slots=True)
class _C:
    start: int
    line: int  # 0-based
    text: str


# ------------------------------------------------------------------ strings

_ESC = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def quote(value: str) -> str:
    if not any(ch in _ESC for ch in value):
        return '"' + value + '"'
    return '"' + "".join(_ESC.get(ch, ch) for ch in value) + '"'


def _doc_body(value: str) -> str:
    out: list[str] = []
    n = len(value)
    for i, ch in enumerate(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"' and (i == n - 1 or value[i + 1] == '"' or (i > 0 and value[i - 1] == '"')):
            out.append('\\"')
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\0")
        else:
            out.append(ch)
    return "".join(out)


def docstring_lines(value: str, ind: str) -> list[str]:
    """A docstring as lines (the first without indentation) that read back as `value`."""
    body = _doc_body(value)
    if "\n" not in body:
        return ['"""' + body + '"""']
    first, *rest = body.split("\n")
    lines = ['"""' + first]
    lines += [(ind + ln) if ln.strip() else ln for ln in rest]
    lines.append(ind + '"""')
    return lines


# ------------------------------------------------------------------ precedence

_LEVEL = {
    "binary": 1,  # a flat `a op b op c` (operators ordered by precedence in lowering)
    "or_op": 1, "and_op": 2, "not_op": 3, "compare": 4, "in_op": 4, "not_in_op": 4,
    "neg": 7, "attr": 8, "call": 8, "index": 8,
}
_SUM_OPS = {"+", "-"}


def paren_is_redundant(t: Tree) -> bool:
    """`(x)`, `(f(y))`, `(-x)`: parentheses around one operand group nothing."""
    inner = t.children[0]
    while isinstance(inner, Tree) and inner.data == "binary" and len(inner.children) == 1:
        inner = inner.children[0]
    return not isinstance(inner, Tree) or inner.data not in ("binary", "not_op")


def _level(t: Tree) -> int:
    # Look through what prints as its content: the grammar's one-operand `binary` wrapper, and parentheses the
    # printer drops. `(-a).b` must be judged by its `-a`, or the dropped parentheses would make it `-a.b`.
    while (t.data == "binary" and len(t.children) == 1) or (t.data == "paren" and paren_is_redundant(t)):
        t = t.children[0]
        if not isinstance(t, Tree):
            return 9
    if t.data == "binop":
        return 5 if str(t.children[1]) in _SUM_OPS else 6
    return _LEVEL.get(t.data, 9)


def _start(node: Tree | Token) -> int:
    if isinstance(node, Tree):
        return node.meta.start_pos
    return node.start_pos or 0


def _end(node: Tree | Token) -> int:
    if isinstance(node, Tree):
        return node.meta.end_pos
    return node.end_pos or 0


def _sub(t: Tree, data: str) -> Tree | None:
    for c in t.children:
        if isinstance(c, Tree) and c.data == data:
            return c
    return None


class Printer:
    def __init__(self, text: str, comments: list) -> None:  # objects with start_pos and str()
        self.text = text
        cs = sorted(comments, key=lambda c: c.start_pos or 0)
        starts = [0]
        i = text.find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        self._line_starts = starts
        self.comments = [_C(c.start_pos or 0, self._line_of(c.start_pos or 0), str(c).rstrip()) for c in cs]
        self.starts = [c.start for c in self.comments]
        self.ci = 0
        self.suppress = 0
        self._flat: dict[int, str] = {}

    # ------------------------------------------------------------ comments

    def has_comment(self, start: int, end: int) -> bool:
        if self.suppress:
            return False
        i = bisect.bisect_left(self.starts, start, self.ci)
        return i < len(self.starts) and self.starts[i] < end

    def take_before(self, offset: int) -> list[_C]:
        if self.suppress:
            return []
        out: list[_C] = []
        while self.ci < len(self.comments) and self.comments[self.ci].start < offset:
            out.append(self.comments[self.ci])
            self.ci += 1
        return out

    def take_trailing(self, line: int, limit: int) -> str:
        if self.suppress or self.ci >= len(self.comments):
            return ""
        c = self.comments[self.ci]
        if c.line == line and c.start < limit:
            self.ci += 1
            return "  " + c.text
        return ""

    def unit(self, limit: int, ind: str, fn) -> list[str]:  # noqa: ANN001
        """Render one line-unit; comments inside it that found no place are moved before it."""
        save = self.ci
        lines = fn()
        if self.suppress or self.ci >= len(self.comments) or self.comments[self.ci].start >= limit:
            return lines
        self.ci = save
        self.suppress += 1
        try:
            lines = fn()
        finally:
            self.suppress -= 1
        hoisted = [ind + c.text for c in self.take_before(limit)]
        return hoisted + lines

    # ------------------------------------------------------------ files and item lists

    def file(self, decls: list[Tree]) -> str:
        out: list[str] = []
        prev_line = -1
        prev: Tree | None = None
        prev_single = False
        for d in decls:
            leading = self.take_before(_start(d))
            lines = self.decl(d)
            lines[-1] += self.take_trailing(self._end_line(d), len(self.text) + 1)
            single = len(lines) == 1
            # Consecutive one-line declarations of one keyword written together stay together.
            together = (prev is not None and prev_single and single and prev.data == d.data
                        and not self._blank_between(self._end_line(prev), self._line(d)))
            after_decl = prev is not None and not together
            for c in leading:
                if out and (after_decl and prev_line == self._end_line(prev) or c.line - prev_line >= 2):
                    out.append("")
                out.append(c.text)
                prev_line = c.line
            if out and (after_decl and prev_line == self._end_line(prev) or self._line(d) - prev_line >= 2):
                out.append("")
            out += lines
            prev, prev_line, prev_single = d, self._end_line(d), single
        for c in self.take_before(len(self.text) + 1):
            if out and (prev is not None and prev_line == self._end_line(prev) or c.line - prev_line >= 2):
                out.append("")
            out.append(c.text)
            prev_line = c.line
        return "\n".join(out) + "\n" if out else ""

    def _blank_between(self, a: int, b: int) -> bool:
        if b - a < 2:
            return False
        lines = self.text[self._line_offset(a + 1):self._line_offset(b)].split("\n")
        return any(not ln.strip() for ln in lines)

    def _line_offset(self, line: int) -> int:
        return self._line_starts[min(line, len(self._line_starts) - 1)]

    def items(self, nodes: list, render, ind: str, open_line: int, close: int) -> list[str]:  # noqa: ANN001
        """Lines of a `{ ... }` body: each node with its leading and trailing comments."""
        out: list[str] = []
        prev_line = open_line
        for k, node in enumerate(nodes):
            for c in self.take_before(_start(node)):
                if out and c.line - prev_line >= 2:
                    out.append("")
                out.append(ind + c.text)
                prev_line = c.line
            if out and self._line(node) - prev_line >= 2:
                out.append("")
            lines = render(node, ind)
            limit = _start(nodes[k + 1]) if k + 1 < len(nodes) else close
            lines[-1] += self.take_trailing(self._end_line(node), limit)
            out += lines
            prev_line = self._end_line(node)
        for c in self.take_before(close):
            if out and c.line - prev_line >= 2:
                out.append("")
            out.append(ind + c.text)
            prev_line = c.line
        return out

    def body(self, head: str, nodes: list, render, ind: str, brace: Tree | Token | int,  # noqa: ANN001
             close: int, tail: str = "}") -> list[str]:
        """`head {` + items + `}`; `brace` is the node whose start is the `{`."""
        open_pos = brace if isinstance(brace, int) else _start(brace)
        open_line = self._line_of(open_pos)
        limit = _start(nodes[0]) if nodes else close
        trailing = self.take_trailing(open_line, limit)
        inner = self.items(nodes, render, ind + IND, open_line, close)
        if not inner and not trailing:
            return [head + " {" + tail]
        return [head + " {" + trailing, *inner, ind + tail]

    def _line_of(self, offset: int) -> int:
        """0-based line of an offset (computed from the text: token line numbers are not used)."""
        return bisect.bisect_right(self._line_starts, offset) - 1

    def _line(self, node: Tree | Token) -> int:
        return self._line_of(_start(node))

    def _end_line(self, node: Tree | Token) -> int:
        start, end = _start(node), _end(node)
        return self._line_of(end - 1 if end > start else start)

    # ------------------------------------------------------------ declarations

    def decl(self, t: Tree) -> list[str]:
        return getattr(self, "d_" + t.data)(t)

    def d_type_decl(self, t: Tree) -> list[str]:
        head = f"type {t.children[0]} = "
        return self.unit(_end(t), "", lambda: self.typ(t.children[1], "", len(head), 0, True, head).split("\n"))

    def d_signature_decl(self, t: Tree) -> list[str]:
        name = t.children[0]
        items = t.children[1].children if len(t.children) > 1 else []
        return self.body(f"signature {name}", items, self.sig_item, "", _after(name, self.text, "{"),
                         _end(t) - 1)

    def sig_item(self, item: Tree, ind: str) -> list[str]:
        if item.data == "sig_doc":
            lines = docstring_lines(string_value(item.children[0]), ind)
            return [ind + lines[0], *lines[1:]]
        role = "in  " if item.data == "sig_in" else "out "
        f = item.children[1]
        return self.unit(_end(item), ind, lambda: self.field(ind + role, f, ind, 0).split("\n"))

    def field(self, head: str, f: Tree, ind: str, depth: int) -> str:
        """`name[: type] ["description"]` for field_decl, record_field and out_field."""
        name, *rest = f.children
        s = head + str(name)
        desc = ""
        for c in rest:
            if isinstance(c, Tree) and c.data == "description":
                desc = " " + quote(string_value(c.children[0]))
            else:
                s += ": "
                s += self.typ(c, ind, len(s), depth, True, "")
        return s + desc

    def d_inline_signature_decl(self, t: Tree) -> list[str]:
        return [f"signature {t.children[0]} = {quote(string_value(t.children[1]))}"]

    def d_module_decl(self, t: Tree, kw: str = "module") -> list[str]:
        name = t.children[0]
        blk = t.children[-1]

        def header() -> list[str]:
            head = f"{kw} {name}"
            params = _sub(t, "params")
            head += self.seq("(", params.children if params else [], ")", "", len(head), 1,
                             _param_close(t, params), self.param)
            for i, c in enumerate(t.children):
                if _is_tok(c, "ARROW"):
                    nxt = t.children[i + 1]
                    head += " -> "
                    if isinstance(nxt, Tree) and nxt.data == "module_outputs":
                        head += self.seq("(", nxt.children, ")", "", _last_len(head), 1, _end(nxt) - 1,
                                         lambda f, ind, used: self.field("", f, ind, 1))
                    else:
                        head += self.typ(nxt, "", _last_len(head), 0, False, "")
            return head.split("\n")

        lines = self.unit(_start(blk), "", header)
        return self._block(lines, blk, "")

    def d_metric_decl(self, t: Tree) -> list[str]:
        return self.d_module_decl(t, "metric")

    def _block(self, header: list[str], blk: Tree, ind: str, tail: str = "}") -> list[str]:
        stmts = blk.children[0].children if blk.children else []
        lines = self.body(header[-1], stmts, self.stmt, ind, blk, _end(blk) - 1, tail)
        return header[:-1] + lines

    def param(self, p: Tree, ind: str, used: int) -> str:
        name, *rest = p.children
        s = str(name)
        for c in rest:
            if isinstance(c, Tree) and c.data.endswith("_type"):
                s += ": " + self.typ(c, ind, used + len(s) + 2, 1, False, "")
            else:
                s += " = " + self.expr(c, ind, used + len(s) + 3, 0)
        return s

    def d_tool_decl(self, t: Tree) -> list[str]:
        def header() -> list[str]:
            name = t.children[0]
            params = _sub(t, "params")
            s = f"tool {name}"
            s += self.seq("(", params.children if params else [], ")", "", len(s), 1, _param_close(t, params),
                          self.param)
            kids = t.children
            for i, c in enumerate(kids):
                if _is_tok(c, "ARROW"):
                    s += " -> " + self.typ(kids[i + 1], "", _last_len(s) + 4, 0, False, "")
                elif _is_tok(c, "STRING"):
                    s += " = " + quote(string_value(c))
                elif isinstance(c, Tree) and c.data == "description":
                    s += " " + quote(string_value(c.children[0]))
            return s.split("\n")

        return self.unit(_end(t), "", header)

    def d_tool_server_decl(self, t: Tree) -> list[str]:
        head = f"tool {t.children[0]} = "
        return self.unit(_end(t), "", lambda: (head + self.expr(t.children[1], "", len(head), 0)).split("\n"))

    def d_retriever_decl(self, t: Tree) -> list[str]:
        head = f"retriever {t.children[0]} = "
        return self.unit(_end(t), "", lambda: (head + self.expr(t.children[1], "", len(head), 0)).split("\n"))

    def d_model_decl(self, t: Tree) -> list[str]:
        name, model, *rest = t.children
        head = f"model {name} = {quote(string_value(model))}"
        if not rest or not rest[0].children:
            return [head]
        kvs = rest[0].children
        flat = "{ " + ", ".join(self.kwarg(kv, "", 0) for kv in kvs) + " }"
        if len(head) + 1 + len(flat) <= WIDTH and not self.has_comment(_start(rest[0]), _end(t)):
            return [head + " " + flat]
        return self.body(head, kvs, self.kv_line, "", _after(model, self.text, "{"), _end(t) - 1)

    def kv_line(self, kv: Tree, ind: str) -> list[str]:
        return self.unit(_end(kv), ind, lambda: (ind + self.kwarg(kv, ind, len(ind))).split("\n"))

    def d_example_decl(self, t: Tree) -> list[str]:
        target = t.children[0]
        head = "example " + ".".join(str(c) for c in target.children)
        for i, c in enumerate(t.children):
            if _is_tok(c, "AS"):
                head += f" as {t.children[i + 1]}"
        kv = _sub(t, "kv_items")
        anchor = t.children[-1] if kv is None else t.children[-2]
        brace = _after(anchor, self.text, "{")
        return self.body(head, kv.children if kv else [], self.kv_line, "", brace, _end(t) - 1)

    def d_test_decl(self, t: Tree) -> list[str]:
        name, target = t.children[0], t.children[1]
        items = _sub(t, "test_items")
        brace = _after(target, self.text, "{")
        return self.body(f"test {name} for {target}", items.children if items else [], self.test_item, "", brace,
                         _end(t) - 1)

    def test_item(self, item: Tree, ind: str) -> list[str]:
        if item.data == "kwarg":
            return self.kv_line(item, ind)
        head = ind + ("expect " if item.data == "test_expect" else "check ")
        return self.unit(_end(item), ind,
                         lambda: (head + self.expr(item.children[0], ind, len(head), 0)).split("\n"))

    def d_import_decl(self, t: Tree) -> list[str]:
        return [f"import {quote(string_value(t.children[0]))}"]

    # ------------------------------------------------------------ statements

    def stmt(self, t: Tree, ind: str) -> list[str]:
        kind = t.data
        c = t.children
        if kind == "for_stmt":
            var, _in, it, blk = c
            head = f"{ind}for {var} in "
            lines = self.unit(_start(blk), ind, lambda: (head + self.expr(it, ind, len(head), 0)).split("\n"))
            return self._block(lines, blk, ind)
        if kind == "if_stmt":
            cond, blk, *clauses = c
            head = f"{ind}if "
            lines = self.unit(_start(blk), ind, lambda: (head + self.expr(cond, ind, len(head), 0)).split("\n"))
            out = self._block_open(lines, blk, ind, clauses[0] if clauses else None)
            for k, cl in enumerate(clauses):
                nxt = clauses[k + 1] if k + 1 < len(clauses) else None
                if cl.data == "elif_clause":
                    ccond, cblk = cl.children
                    h = f"{ind}}} elif "
                    hl = self.unit(_start(cblk), ind,
                                   lambda ccond=ccond, h=h: (h + self.expr(ccond, ind, len(h), 0)).split("\n"))
                    out[-1:] = self._block_open(hl, cblk, ind, nxt)
                else:
                    out[-1:] = self._block_open([f"{ind}}} else"], cl.children[0], ind, None)
            return out
        return self.unit(_end(t), ind, lambda: self.simple(t, ind).split("\n"))

    def _block_open(self, header: list[str], blk: Tree, ind: str, nxt: Tree | None) -> list[str]:
        """A block whose closing brace may be followed by `elif`/`else` (comments up to there stay inside)."""
        stmts = blk.children[0].children if blk.children else []
        close = _start(nxt) if nxt is not None else _end(blk) - 1
        lines = self.body(header[-1], stmts, self.stmt, ind, blk, close)
        if len(lines) == 1:  # `{}`: split so that `} elif`/`} else` can replace the closing line
            lines = [lines[0][:-1], ind + "}"]
        return header[:-1] + lines

    def simple(self, t: Tree, ind: str) -> str:
        kind = t.data
        c = t.children
        if kind == "let_stmt":
            head = f"{ind}let {c[0]} = "
            s = head + self.expr(c[1], ind, len(head), 0)
            if len(c) == 4:
                s += f" using {c[3]}"
            return s
        if kind == "assign_stmt":
            s = f"{ind}{c[0]}"
            if len(c) == 3:
                s += ": " + self.typ(c[1], ind, len(s) + 2, 0, False, "")
            s += " = "
            return s + self.expr(c[-1], ind, _last_len(s), 0)
        if kind == "aug_assign_stmt":
            head = f"{ind}{c[0]} {c[1]} "
            return head + self.expr(c[2], ind, len(head), 0)
        if kind == "return_stmt":
            if not c:
                return ind + "return"
            return f"{ind}return " + self.expr(c[0], ind, len(ind) + 7, 0)
        if kind == "expr_stmt":
            return ind + self.expr(c[0], ind, len(ind), 0)
        raise ValueError(f"unknown statement {kind}")

    # ------------------------------------------------------------ types

    def typ(self, t: Tree, ind: str, used: int, depth: int, top: bool, head: str) -> str:
        """A type expression; `head` is prepended (so that a broken union keeps its first member on
        the head's line). `top`: a union here may be broken over lines."""
        kind = t.data
        c = t.children
        if kind == "named_type":
            return head + str(c[0])
        if kind == "literal_type":
            return head + quote(string_value(c[0]))
        if kind == "generic_type":
            args = ", ".join(self.typ(a, ind, 0, depth + 1, False, "") for a in c[1:])
            return f"{head}{c[0]}[{args}]"
        if kind == "optional_type":
            inner = c[0]
            s = self.typ(inner, ind, used, depth, False, "")
            if inner.data == "union_type":
                s = "(" + s + ")"
            return head + s + "?"
        if kind == "record_type":
            fields = c[0].children if c else []
            if not fields:
                return head + "{}"
            sep = "," if depth else ""
            open_line = self._line_of(_start(t))
            trailing = self.take_trailing(open_line, _start(fields[0]))
            lines = self.items(fields, lambda f, i: self.unit(
                _end(f), i, lambda: (self.field(i, f, i, depth) + sep).split("\n")), ind + IND, open_line,
                _end(t) - 1)
            return head + "{" + trailing + "\n" + "\n".join(lines) + "\n" + ind + "}"
        if kind == "union_type":
            parts = [self._member(m, ind, depth) for m in c]
            flat = " | ".join(parts)
            if not top or (used + len(flat) <= WIDTH and not self.has_comment(_start(t), _end(t))
                           and "\n" not in flat):
                return head + flat
            # Broken: first member on the head's line, then one `| member` per line.
            out = [head + self._member(c[0], ind, depth)]
            out[-1] += self.take_trailing(self._end_line(c[0]), _start(c[1]))
            prev_line = self._end_line(c[0])
            for k, m in enumerate(c[1:], 1):
                for com in self.take_before(_start(m)):
                    out.append(ind + IND + com.text)
                    prev_line = com.line
                line = ind + IND + "| " + self._member(m, ind + IND, depth)
                limit = _start(c[k + 1]) if k + 1 < len(c) else _end(t)
                if k + 1 == len(c):
                    limit = self._stmt_limit
                line += self.take_trailing(self._end_line(m), limit)
                out.append(line)
                prev_line = self._end_line(m)
            del prev_line
            return "\n".join(out)
        if kind == "type_expr":
            return self.typ(c[0], ind, used, depth, top, head)
        raise ValueError(f"unknown type node {kind}")

    _stmt_limit = -1  # a union's last member never takes the declaration's trailing comment

    def _member(self, m: Tree, ind: str, depth: int) -> str:
        s = self.typ(m, ind, 0, depth, False, "")
        return "(" + s + ")" if m.data == "union_type" else s

    # ------------------------------------------------------------ expressions

    def expr(self, t: Tree, ind: str, used: int, min_level: int) -> str:
        if not isinstance(t, Tree):
            return str(t)
        lvl = _level(t)
        if lvl < min_level:
            return "(" + self._expr(t, ind, used + 1) + ")"
        return self._expr(t, ind, used)

    def _expr(self, t: Tree, ind: str, used: int) -> str:
        kind = t.data
        c = t.children
        if kind == "name":
            return str(c[0])
        if kind == "string":
            value = string_value(c[0])
            if str(c[0]).startswith('"""') and "\n" in value:
                lines = docstring_lines(value, ind)
                return "\n".join(lines)
            return quote(value)
        if kind == "number":
            return str(c[0])
        if kind == "true":
            return "true"
        if kind == "false":
            return "false"
        if kind == "none":
            return "none"
        if kind == "list":
            return self.seq("[", c, "]", ind, used, 0, _end(t) - 1, self._item, _start(t))
        if kind == "record":
            return self.seq("(", c, ")", ind, used, 0, _end(t) - 1, self._kw, _start(t))
        if kind == "attr":
            return self.expr(c[0], ind, used, 8) + "." + str(c[1])
        if kind == "index":
            s = self.expr(c[0], ind, used, 8)
            return s + "[" + self.expr(c[1], ind, _last_len(s) + 1, 0) + "]"
        if kind == "call":
            s = self.expr(c[0], ind, used, 8)
            args = c[1].children if len(c) > 1 and isinstance(c[1], Tree) and c[1].data == "args" else c[1:]
            return s + self.seq("(", args, ")", ind, _last_len(s, used), 0, _end(t) - 1, self._arg, _end(c[0]))
        if kind == "binop":
            op = str(c[1])
            lvl = _level(t)
            left = self.expr(c[0], ind, used, lvl)
            return left + f" {op} " + self.expr(c[2], ind, _last_len(left, used) + len(op) + 2, lvl + 1)
        if kind in ("compare", "in_op", "not_in_op"):
            op = str(c[1]) if kind == "compare" else ("in" if kind == "in_op" else "not in")
            left = self.expr(c[0], ind, used, 5)
            return left + f" {op} " + self.expr(c[2], ind, _last_len(left, used) + len(op) + 2, 5)
        if kind in ("and_op", "or_op"):
            op = "and" if kind == "and_op" else "or"
            lvl = _level(t)
            left = self.expr(c[0], ind, used, lvl)
            return left + f" {op} " + self.expr(c[1], ind, _last_len(left, used) + len(op) + 2, lvl + 1)
        if kind == "binary" and len(c) == 1:
            return self._expr(c[0], ind, used) if isinstance(c[0], Tree) else str(c[0])
        if kind == "binary":
            # Operands that are themselves `binary` were parenthesized in the source: keep them so.
            out = ""
            for k, node in enumerate(c):
                if isinstance(node, Tree):
                    out += self.expr(node, ind, _last_len(out, used), 2)
                else:
                    out += str(node) + (" " if k + 1 < len(c) else "")
                    continue
                if k + 1 < len(c):
                    out += " "
            return out
        if kind == "paren":  # grouping as written: `(not a) + b` differs from `not a + b`
            if paren_is_redundant(t):
                return self.expr(c[0], ind, used, 0)
            return "(" + self.expr(c[0], ind, used + 1, 0) + ")"
        if kind == "not_op":
            return "not " + self.expr(c[-1], ind, used + 4, 3)
        if kind == "neg":
            inner = c[-1]
            if isinstance(inner, Tree) and inner.data in ("not_op", "neg"):  # `-not a`: no parens to add
                return "-" + self._expr(inner, ind, used + 1)
            return "-" + self.expr(inner, ind, used + 1, 7)
        if kind == "kwarg":
            return self.kwarg(t, ind, used)
        raise ValueError(f"unknown expression {kind}")

    def _item(self, t: Tree, ind: str, used: int) -> str:
        return self.expr(t, ind, used, 0)

    def _kw(self, t: Tree, ind: str, used: int) -> str:
        return self.kwarg(t, ind, used)

    def _arg(self, t: Tree, ind: str, used: int) -> str:
        if isinstance(t, Tree) and t.data == "kwarg":
            return self.kwarg(t, ind, used)
        return self.expr(t, ind, used, 0)

    def kwarg(self, t: Tree, ind: str, used: int) -> str:
        head = f"{t.children[0]}: "
        return head + self.expr(t.children[-1], ind, used + len(head), 0)

    def seq(self, open_: str, elems: list, close: str, ind: str, used: int, depth: int,  # noqa: ANN001
            close_pos: int, render, open_pos: int | None = None) -> str:
        """A bracketed, comma-separated sequence: flat if it fits and holds no comment, else one
        element per line with a trailing comma."""
        if not elems:
            return open_ + close
        first = _start(elems[0]) if open_pos is None else open_pos
        if not self.has_comment(first, close_pos):
            flat = open_ + ", ".join(self._flat_of(e, render) for e in elems) + close
            if used + len(flat) <= WIDTH and "\n" not in flat:
                return flat
        inner = ind + IND
        lines = [open_]
        for k, e in enumerate(elems):
            for com in self.take_before(_start(e)):
                lines.append(inner + com.text)
            s = render(e, inner, len(inner))
            limit = _start(elems[k + 1]) if k + 1 < len(elems) else close_pos
            lines.append(inner + s + "," + self.take_trailing(self._end_line(e), limit))
        for com in self.take_before(close_pos):
            lines.append(inner + com.text)
        lines.append(ind + close)
        return "\n".join(lines)

    def _flat_of(self, e: Tree | Token, render) -> str:  # noqa: ANN001
        self.suppress += 1
        try:
            return render(e, "", -10**9)
        finally:
            self.suppress -= 1


def _last_len(s: str, used: int = 0) -> int:
    i = s.rfind("\n")
    return used + len(s) if i < 0 else len(s) - i - 1


def _after(node: Tree | Token, text: str, ch: str) -> int:
    i = text.find(ch, _end(node))
    return i if i >= 0 else _end(node)


def _param_close(t: Tree, params: Tree | None) -> int:
    """Offset of the `)` closing a parameter list (the start of what follows it, at the latest)."""
    kids = t.children
    if params is None:
        return _end(kids[0])
    i = kids.index(params)
    return _start(kids[i + 1]) if i + 1 < len(kids) else _end(params)


__all__ = ["Printer", "WIDTH", "quote", "docstring_lines"]


def _is_tok(node: object, kind: str) -> bool:
    """Whether `node` is a token of type `kind` (any engine's Token class)."""
    return not isinstance(node, Tree) and getattr(node, "type", None) == kind
