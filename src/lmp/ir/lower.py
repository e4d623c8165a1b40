"""Lowering: syntax trees (lmp.syntax.tree) -> the typed IR, with type names resolved.

Reports what only the declarations themselves can tell: unknown or malformed types,
duplicate names and fields, malformed predictor constructors, tools and retrievers.
Flow through module bodies is the checker's job.
"""

from __future__ import annotations

import inspect
import re
import threading
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from lmp.diagnostics import Diagnostic, Severity, Span, suggest
from lmp.ir import nodes as ir
from lmp.ir.model_params import EnvRef, env_call
from lmp.ir.types import (
    ANY,
    PRIMITIVES,
    SPECIAL_TYPES,
    STR,
    AnyType,
    DictType,
    ListType,
    LiteralType,
    OptionalType,
    RecordField,
    RecordType,
    Type,
)
from lmp.syntax.errors import UnexpectedInput
from lmp.syntax.gcpause import gc_paused
from lmp.syntax.parser import ParseResult, parse_signature_spec, spec_error
from lmp.syntax.positions import Positions
from lmp.syntax.tree import Token, Tree

_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
GENERICS = {"list": 1, "dict": 2}
_PRECEDENCE = {"or": 1, "and": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3, "in": 3, "not in": 3,
               "contains": 3,
               "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# What a line of a module body assigns: `name =`, `name: T =`, `name +=`, `let name =`, `for name in`.
_ASSIGNS = re.compile(r"^[ \t]*(?:let[ \t]+)?([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?\+?=(?!=)"
                      r"|^[ \t]*for[ \t]+([A-Za-z_]\w*)", re.MULTILINE)


def unescape(body: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def string_value(tok: Token) -> str:
    raw = str(tok.value)
    if raw.startswith('"""'):
        return inspect.cleandoc(unescape(raw[3:-3]))
    return unescape(raw[1:-1])


# The positions of the text being lowered. Thread-local: the language server, batch runs and the
# HTTP server may lower programs on several threads at once.
_current = threading.local()


# Set by the language server to an `lmp.ir.reuse.ModuleReuse`: unchanged modules keep their IR between analyses.
MODULE_REUSE: Any = None


def span_of(node: Tree | Token) -> Span:
    """Span of a syntax node in the text being lowered (set by `lower`)."""
    positions: Positions | None = getattr(_current, "positions", None)
    assert positions is not None
    return positions.of(node)


def is_token(node: object) -> bool:
    return not isinstance(node, Tree)


class _Climb:
    """Precedence climbing over a flat `a op b op c ...`: operands (each with the spans of the `not`s in
    front of it) and the operators between them. An object rather than two nested functions: closures
    that call each other are reference cycles, ~1,000 per 2,000 lines for the garbage collector."""

    __slots__ = ("operands", "ops", "pos")

    def __init__(self, operands: list[tuple[list[Span], ir.Expr]], ops: list[str]) -> None:
        self.operands = operands
        self.ops = ops
        self.pos = 0

    def primary(self) -> ir.Expr:
        nots, expr = self.operands[self.pos]
        if not nots:
            return expr
        self.operands[self.pos] = ([], expr)
        inner = self.climb(3)
        for span in reversed(nots):
            inner = ir.Not(inner, span=Span.between(span, inner.span))
        return inner

    def climb(self, min_prec: int) -> ir.Expr:
        ops = self.ops
        left = self.primary()
        while self.pos < len(ops) and _PRECEDENCE[ops[self.pos]] >= min_prec:
            op = ops[self.pos]
            prec = _PRECEDENCE[op]
            self.pos += 1
            right = self.climb(prec + 1)
            span = Span.between(left.span, right.span)
            if op in ("and", "or"):
                left = ir.BoolOp(op, left, right, span=span)
            elif prec == 3:
                left = ir.Compare(op, left, right, span=span)
            else:
                left = ir.BinOp(op, left, right, span=span)
        return left


class Lowering:
    def __init__(self, path: str, text: str, imported: Iterable[ir.Program] = ()) -> None:
        self.path = path
        self.text = text
        self.program = ir.Program(path=path, text=text)
        self.diagnostics: list[Diagnostic] = []
        self._type_trees: dict[str, Tree] = {}
        self._resolved: dict[str, Type] = {}
        self._resolving: set[str] = set()
        self._imported_types: dict[str, Type] = {}
        self._imported_sigs: dict[str, ir.Signature] = {}
        self._imported = list(imported)
        self._syntax_errors: list[Diagnostic] = []
        self._error_offsets: list[int] = []
        for prog in self._imported:
            for name, decl in prog.types.items():
                self._imported_types[name] = decl.type
            self._imported_sigs.update(prog.signatures)

    # ------------------------------------------------------------ helpers

    def error(self, code: str, message: str, span: Span, hint: str | None = None,
              severity: Severity = Severity.ERROR) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, severity, hint, path=self.path))

    def _declare(self, decl: ir.Decl, table: dict[str, Any], namespace: str = "name") -> None:
        previous = self.program.lookup(decl.name) if namespace == "name" else self.program.models.get(decl.name)
        if previous is not None:
            self.diagnostics.append(Diagnostic(
                "E020", f"`{decl.name}` is already defined", decl.name_span, path=self.path,
                hint="rename one of the two definitions",
                related=[ir_related(previous, "first defined here")]))
            return
        table[decl.name] = decl

    # ------------------------------------------------------------ entry

    def lower(self, parsed: ParseResult) -> ir.Program:
        self._syntax_errors = parsed.diagnostics
        # Sorted, so that each declaration asks in O(log n): a file may hold thousands of errors.
        self._error_offsets = sorted([d.span.start for d in parsed.diagnostics] + getattr(parsed, "unreported", []))
        self.program.unparsed_names = frozenset(getattr(parsed, "unparsed_names", ()))
        decl_trees: list[Tree] = []
        for tree in parsed.trees:
            decl_trees.extend(c for c in tree.children if isinstance(c, Tree))
        decl_trees.sort(key=lambda t: span_of(t).start)
        self.program.comments = [ir.Comment(str(t), span_of(t)) for t in parsed.comments]
        for t in decl_trees:
            if t.data == "type_decl":
                name = t.children[0]
                if str(name) not in self._type_trees:
                    self._type_trees[str(name)] = t
        # Declarations that modules refer to come first, so source order does not matter.
        first = [t for t in decl_trees if t.data not in ("module_decl", "metric_decl", "example_decl")]
        later = [t for t in decl_trees if t.data in ("module_decl", "metric_decl", "example_decl")]
        reuse = MODULE_REUSE
        context = reuse.context_key(self.text, decl_trees, span_of, self._imported, self.program.unparsed_names) \
            if reuse is not None else ""
        for t in first + later:
            if reuse is not None and t.data in ("module_decl", "metric_decl"):
                self._lower_module_reusing(reuse, t, context)
                continue
            try:
                decl = getattr(self, "_" + t.data)(t)
            except RecursionError:
                self.error("E003", "nesting too deep", span_of(t))
                continue
            if decl is not None:
                decl.path = self.path
        self.program.decls.sort(key=lambda d: d.span.start)
        return self.program

    def _lower_module_reusing(self, reuse: Any, t: Tree, context: str) -> None:
        """A module through `lmp.ir.reuse` (the language server): its earlier IR when nothing it reads changed."""
        from lmp.ir.reuse import relink

        span = span_of(t)
        clean = not self._has_syntax_error(span)
        found = reuse.take(self.path, self.text, span, context) if clean else None
        if found is not None:
            mod, diags = found
            relink(mod, self.program.signatures, self._imported_sigs)
            self.diagnostics.extend(diags)
            self._declare(mod, self.program.modules)
            self.program.decls.append(mod)
            mod.path = self.path
            reuse.store(self.path, self.text, mod, diags, context)
            return
        before = len(self.diagnostics)
        try:
            mod = self._module_decl(t, is_metric=t.data == "metric_decl")
        except RecursionError:
            self.error("E003", "nesting too deep", span)
            return
        mod.path = self.path
        if clean and not mod.syntax_error:
            own = [d for d in self.diagnostics[before:] if not (d.code == "E020" and d.span == mod.name_span)]
            reuse.store(self.path, self.text, mod, own, context)

    # ------------------------------------------------------------ types

    def resolve_type(self, node: Tree | Token) -> Type:
        if is_token(node):
            return self._named(node)
        kind = node.data
        if kind == "named_type":
            return self._named(node.children[0])
        if kind == "optional_type":
            inner = self.resolve_type(node.children[0])
            return inner if isinstance(inner, OptionalType) else OptionalType(inner)
        if kind == "literal_type":
            return LiteralType((string_value(node.children[0]),))
        if kind == "union_type":
            members: list[str] = []
            for child in node.children:
                t = self.resolve_type(child)
                if isinstance(t, LiteralType):
                    members.extend(m for m in t.members if m not in members)
                elif not isinstance(t, AnyType):
                    self.error("E011", f"only string literals can be joined with `|`, not `{t.render()}`",
                               span_of(child), hint='write a union of strings, e.g. "yes" | "no"')
                    return ANY
            return LiteralType(tuple(members))
        if kind == "generic_type":
            name_tok, *args = node.children
            name = str(name_tok)
            if name not in GENERICS:
                self.error("E011", f"`{name}` takes no type arguments", span_of(name_tok),
                           hint="generic types are list[T] and dict[str, T]")
                return ANY
            if len(args) != GENERICS[name]:
                self.error("E011", f"`{name}` takes {GENERICS[name]} type argument(s), got {len(args)}",
                           span_of(node))
                return ANY
            resolved = [self.resolve_type(a) for a in args]
            if name == "list":
                return ListType(resolved[0])
            if resolved[0] != STR and not isinstance(resolved[0], AnyType):
                self.error("E011", "dict keys must be `str`", span_of(args[0]))
            return DictType(STR, resolved[1])
        if kind == "record_type":
            return self._record(node, None)
        return ANY

    def _named(self, tok: Token) -> Type:
        name = str(tok)
        if name in PRIMITIVES:
            return PRIMITIVES[name]
        if name in ("list", "dict"):
            self.error("E011", f"`{name}` needs type arguments, e.g. `{name}[str]`"
                       if name == "list" else "`dict` needs type arguments, e.g. `dict[str, int]`", span_of(tok))
            return ListType(ANY) if name == "list" else DictType(STR, ANY)
        if name in ("any",):
            return ANY
        if name in self._resolved:
            return self._resolved[name]
        if name in self._type_trees:
            if name in self._resolving:
                self.error("E012", f"type `{name}` refers to itself", span_of(tok),
                           hint="recursive types are not supported; use a list of a named record instead")
                return ANY
            self._resolving.add(name)
            tree = self._type_trees[name]
            body = tree.children[1]
            if isinstance(body, Tree) and body.data == "record_type":
                t: Type = self._record(body, name)
            else:
                t = self.resolve_type(body)
                if isinstance(t, LiteralType):
                    t = LiteralType(t.members, name)
            self._resolving.discard(name)
            self._resolved[name] = t
            return t
        if name in self._imported_types:
            return self._imported_types[name]
        if name in SPECIAL_TYPES:  # Image, History: after the program's own types, which may reuse the names
            return SPECIAL_TYPES[name]
        if name in self.program.unparsed_names:
            return ANY  # declared by a declaration with a syntax error, reported there
        known = list(PRIMITIVES) + list(SPECIAL_TYPES) + list(self._type_trees) + list(self._imported_types)
        guess = suggest(name, known)
        self.error("E010", f"unknown type `{name}`", span_of(tok),
                   hint=f"did you mean `{guess}`?" if guess else "declare it with `type " + name + " = ...`")
        return ANY

    def _record(self, node: Tree, name: str | None) -> RecordType:
        fields: list[RecordField] = []
        seen: set[str] = set()
        for block in node.children:
            for f in block.children:
                fname = str(f.children[0])
                ftype = self.resolve_type(f.children[1])
                desc = self._description(f.children[2:])
                if fname in seen:
                    self.error("E021", f"field `{fname}` is declared twice", span_of(f.children[0]))
                    continue
                seen.add(fname)
                fields.append(RecordField(fname, ftype, desc))
        return RecordType(tuple(fields), name)

    @staticmethod
    def _description(children: list[Any]) -> str | None:
        for c in children:
            if isinstance(c, Tree) and c.data == "description":
                return string_value(c.children[0])
        return None

    # ------------------------------------------------------------ declarations

    def _type_decl(self, t: Tree) -> ir.TypeDecl:
        name_tok = t.children[0]
        decl = ir.TypeDecl(str(name_tok), self._named(name_tok) if str(name_tok) not in PRIMITIVES else ANY,
                           span=span_of(t), name_span=span_of(name_tok), type_span=span_of(t.children[1]))
        if str(name_tok) in PRIMITIVES or str(name_tok) in ("list", "dict"):
            self.error("E020", f"`{name_tok}` is a built-in type and cannot be redefined", span_of(name_tok))
            return decl
        body = t.children[1]
        if isinstance(body, Tree):
            for lit in body.iter_subtrees():
                if lit.data == "literal_type":
                    decl.member_spans.setdefault(string_value(lit.children[0]), span_of(lit))
        self._declare(decl, self.program.types)
        self.program.decls.append(decl)
        return decl

    def _field_decl(self, node: Tree, role: str) -> ir.Field:
        name_tok = node.children[0]
        rest = node.children[1:]
        ftype: Type = STR
        type_span = span_of(name_tok)
        if rest and not (isinstance(rest[0], Tree) and rest[0].data == "description"):
            ftype = self.resolve_type(rest[0])
            type_span = span_of(rest[0])
        return ir.Field(str(name_tok), ftype, self._description(rest), role, span_of(name_tok), type_span)

    def _signature_decl(self, t: Tree) -> ir.Signature:
        name_tok = t.children[0]
        sig = ir.Signature(str(name_tok), span=span_of(t), name_span=span_of(name_tok))
        items = t.children[1].children if len(t.children) > 1 else []
        for item in items:
            if item.data == "sig_doc":
                if sig.instructions is not None:
                    self.error("E021", "a signature has one docstring; join the instructions into one",
                               span_of(item))
                sig.instructions = string_value(item.children[0])
                sig.instructions_span = span_of(item)
                continue
            field = self._field_decl(item.children[1], "in" if item.data == "sig_in" else "out")
            self._add_field(sig, field)
        sig.syntax_error = self._has_syntax_error(sig.span)
        if not sig.outputs and not sig.syntax_error:
            self.error("E022", f"signature `{sig.name}` has no `out` field", sig.name_span,
                       hint="add a line such as `out answer: str`")
        self._declare(sig, self.program.signatures)
        self.program.decls.append(sig)
        return sig

    def _has_syntax_error(self, span: Span) -> bool:
        offsets = self._error_offsets
        i = bisect_left(offsets, span.start)
        return i < len(offsets) and offsets[i] <= span.end

    def _add_field(self, sig: ir.Signature, field: ir.Field) -> None:
        if sig.field(field.name) is not None:
            self.error("E021", f"field `{field.name}` is declared twice in `{sig.name}`", field.span)
            return
        (sig.inputs if field.role == "in" else sig.outputs).append(field)

    def inline_signature(self, tok: Token, name: str) -> ir.Signature:
        """Parse "a, b: list[str] -> c" from a string token; errors point inside the string."""
        base = span_of(tok)
        sig = ir.Signature(name, inline=True, span=base, name_span=base)
        spec = str(tok)[1:-1]
        if "\\" in spec or "\n" in spec:
            spec = unescape(spec)
        try:
            tree = parse_signature_spec(spec)
        except UnexpectedInput as err:
            message, offset = spec_error(err, spec)
            at = Span(base.start + 1 + offset, base.start + 2 + offset, base.line, base.col + 1 + offset,
                      base.line, base.col + 2 + offset)
            self.error("E001", f"in inline signature: {message}", at,
                       hint='the inline form is "input1, input2: type -> output: type"')
            return sig
        except RecursionError:
            self.error("E003", "nesting too deep", base)
            return sig
        sides = [c for c in tree.children if isinstance(c, Tree)]
        inputs = sides[0].children if len(sides) == 2 else []
        outputs = sides[-1].children
        outer = getattr(_current, "positions", None)
        _current.positions = Positions(spec)
        try:
            for role, fields in (("in", inputs), ("out", outputs)):
                for f in fields:
                    fname = f.children[0]
                    inner = span_of(fname).shifted(base.start + 1, base.line, base.col + 1)
                    ftype: Type = STR
                    if len(f.children) > 1:
                        ftype = self._resolve_in_spec(f.children[1], base)
                    self._add_field(sig, ir.Field(str(fname), ftype, None, role, inner, inner))
        finally:
            _current.positions = outer
        return sig

    def _resolve_in_spec(self, node: Tree | Token, base: Span) -> Type:
        before = len(self.diagnostics)
        t = self.resolve_type(node)
        for d in self.diagnostics[before:]:
            d.span = d.span.shifted(base.start + 1, base.line, base.col + 1)
        return t

    def _inline_signature_decl(self, t: Tree) -> ir.Signature:
        name_tok, spec = t.children
        sig = self.inline_signature(spec, str(name_tok))
        sig.span = span_of(t)
        sig.name_span = span_of(name_tok)
        self._declare(sig, self.program.signatures)
        self.program.decls.append(sig)
        return sig

    def _params(self, node: Tree | None) -> list[ir.Param]:
        params: list[ir.Param] = []
        if node is None:
            return params
        seen: set[str] = set()
        for p in node.children:
            name_tok = p.children[0]
            ptype: Type = ANY
            annotated = False
            type_span = None
            default = None
            for c in p.children[1:]:
                if isinstance(c, Tree) and c.data.endswith("_type"):
                    ptype = self.resolve_type(c)
                    annotated = True
                    type_span = span_of(c)
                else:
                    default = self.expr(c)
            if str(name_tok) in seen:
                self.error("E021", f"parameter `{name_tok}` is declared twice", span_of(name_tok))
                continue
            seen.add(str(name_tok))
            params.append(ir.Param(str(name_tok), ptype, default, span_of(name_tok), type_span, annotated))
        return params

    def _children_of(self, t: Tree, data: str) -> Tree | None:
        for c in t.children:
            if isinstance(c, Tree) and c.data == data:
                return c
        return None

    def _module_decl(self, t: Tree, is_metric: bool = False) -> ir.Module:
        name_tok = t.children[0]
        mod = ir.Module(str(name_tok), span=span_of(t), name_span=span_of(name_tok), is_metric=is_metric)
        mod.params = self._params(self._children_of(t, "params"))
        outs = self._children_of(t, "module_outputs")
        if outs is not None:
            seen: set[str] = set()
            for f in outs.children:
                fname = f.children[0]
                ftype = self.resolve_type(f.children[1])
                if str(fname) in seen:
                    self.error("E021", f"output `{fname}` is declared twice", span_of(fname))
                    continue
                seen.add(str(fname))
                mod.outputs.append(ir.Field(str(fname), ftype, self._description(f.children[2:]), "out",
                                            span_of(fname), span_of(f.children[1])))
        if is_metric:
            arrow = [c for c in t.children if is_token(c) and c.type == "ARROW"]
            if arrow:
                idx = t.children.index(arrow[0])
                mod.returns_span = span_of(t.children[idx + 1])
                if outs is not None:
                    # `-> (score: float, feedback: str)`: a feedback metric returns that record; the
                    # fields are its type, not module outputs.
                    mod.returns = RecordType(tuple(RecordField(f.name, f.type, f.description) for f in mod.outputs))
                    mod.outputs = []
                else:
                    mod.returns = self.resolve_type(t.children[idx + 1])
        self._module = mod
        mod.body = self.block(t.children[-1])
        if self._has_syntax_error(mod.span):
            mod.syntax_error = True
            mod.assigned_in_text = frozenset(m.group(1) or m.group(2) for m in _ASSIGNS.finditer(
                self.text, mod.span.start, mod.span.end))
        self._declare(mod, self.program.modules)
        self.program.decls.append(mod)
        return mod

    def _metric_decl(self, t: Tree) -> ir.Module:
        return self._module_decl(t, is_metric=True)

    def _tool_decl(self, t: Tree) -> ir.Tool:
        name_tok = t.children[0]
        tool = ir.Tool(str(name_tok), span=span_of(t), name_span=span_of(name_tok))
        tool.params = self._params(self._children_of(t, "params"))
        strings = [c for c in t.children if is_token(c) and c.type == "STRING"]
        target_tok = strings[-1] if strings else None
        for i, c in enumerate(t.children):
            if is_token(c) and c.type == "ARROW":
                tool.returns = self.resolve_type(t.children[i + 1])
        desc = self._children_of(t, "description")
        if desc is not None:
            tool.description = string_value(desc.children[0])
        if target_tok is not None:
            tool.target = string_value(target_tok)
            tool.target_span = span_of(target_tok)
            if not _TARGET.match(tool.target):
                self.error("E047", f"tool target `{tool.target}` is not a Python import path",
                           tool.target_span, hint='write "package.module:function"')
        for p in tool.params:
            if not p.annotated:
                self.error("E011", f"tool parameter `{p.name}` needs a type", p.span,
                           hint=f"write `{p.name}: str` (tools are called from Python with checked types)")
        self._declare(tool, self.program.tools)
        self.program.decls.append(tool)
        return tool

    def _tool_server_decl(self, t: Tree) -> ir.ToolServer | None:
        from lmp.ir.mcp_manifest import lower_server

        name_tok, value = t.children
        server = lower_server(str(name_tok), self.expr(value), span_of(t), span_of(name_tok), self.error)
        if server is None:
            return None
        self._declare(server, self.program.tool_servers)
        self.program.decls.append(server)
        return server

    def _retriever_decl(self, t: Tree) -> ir.Retriever | None:
        name_tok, value = t.children
        ret = ir.Retriever(str(name_tok), span=span_of(t), name_span=span_of(name_tok))
        expr = self.expr(value)
        if isinstance(expr, ir.Literal) and isinstance(expr.value, str):
            ret.kind, ret.target = "python", expr.value
            if not _TARGET.match(expr.value):
                self.error("E047", f"retriever target `{expr.value}` is not a Python import path",
                           expr.span, hint='write "package.module:function" or bm25("docs/*.md")')
        elif isinstance(expr, ir.Call) and isinstance(expr.func, ir.Name) and expr.func.id == "bm25":
            ret.kind, ret.args, ret.kwargs = "bm25", expr.args, expr.kwargs
            if not expr.args:
                self.error("E048", "bm25 needs the files or JSONL corpus to index", expr.span,
                           hint='e.g. bm25("docs/*.md") or bm25("corpus.jsonl", text: "text")')
        else:
            self.error("E048", "a retriever is `bm25(\"files\")` or a Python import path string", expr.span)
            return None
        self._declare(ret, self.program.retrievers)
        self.program.decls.append(ret)
        return ret

    def _model_decl(self, t: Tree) -> ir.ModelDecl:
        name_tok, model_tok, *rest = t.children
        decl = ir.ModelDecl(str(name_tok), string_value(model_tok), span=span_of(t), name_span=span_of(name_tok),
                            model_span=span_of(model_tok))
        for kv in rest[0].children if rest else []:
            key = str(kv.children[0])
            value = self.expr(kv.children[1])
            decl.param_spans[key] = value.span
            ref = env_call(value)
            if isinstance(ref, EnvRef):
                decl.params[key] = ref
                continue
            if ref is not None:
                self.error("E049", f"model setting `{key}`: {ref}", value.span)
                continue
            try:
                decl.params[key] = constant(value)
            except ValueError:
                self.error("E049", f"model setting `{key}` must be a constant or env(\"NAME\")", value.span)
        self._declare(decl, self.program.models, namespace="model")
        self.program.decls.append(decl)
        return decl

    def _example_decl(self, t: Tree) -> ir.Example:
        target = t.children[0]
        target_name = ".".join(str(c) for c in target.children)
        name = target_name
        for i, c in enumerate(t.children):
            if is_token(c) and c.type == "AS":
                name = str(t.children[i + 1])
        ex = ir.Example(name, target_name, span=span_of(t), name_span=span_of(target), target_span=span_of(target))
        kvs = self._children_of(t, "kv_items")
        seen: set[str] = set()
        for kv in kvs.children if kvs is not None else []:
            arg = self.kwarg(kv)
            if arg.name in seen:
                self.error("E021", f"`{arg.name}` is given twice", arg.span)
                continue
            seen.add(arg.name)
            ex.values.append(arg)
        self.program.examples.append(ex)
        self.program.decls.append(ex)
        return ex

    def _test_decl(self, t: Tree) -> ir.TestBlock:
        from lmp.ir.lower_tests import lower_test

        return lower_test(self, t)

    def _import_decl(self, t: Tree) -> ir.Import:
        tok = t.children[0]
        imp = ir.Import(string_value(tok), span=span_of(t), name_span=span_of(tok))
        self.program.imports.append(imp)
        self.program.decls.append(imp)
        return imp

    # ------------------------------------------------------------ statements

    def block(self, t: Tree) -> list[ir.Stmt]:
        if not t.children:
            return []
        out: list[ir.Stmt] = []
        for s in t.children[0].children:
            stmt = self.stmt(s)
            if stmt is not None:
                out.append(stmt)
        return out

    def stmt(self, t: Tree) -> ir.Stmt | None:
        kind = t.data
        span = span_of(t)
        if kind == "let_stmt":
            return self._let(t)
        if kind == "assign_stmt":
            name_tok = t.children[0]
            annotation = None
            annotation_span = None
            if len(t.children) == 3:
                annotation = self.resolve_type(t.children[1])
                annotation_span = span_of(t.children[1])
            return ir.Assign(str(name_tok), self.expr(t.children[-1]), annotation, span_of(name_tok),
                             annotation_span, span=span)
        if kind == "aug_assign_stmt":
            name_tok, op, value = t.children
            return ir.AugAssign(str(name_tok), str(op), self.expr(value), span_of(name_tok), span=span)
        if kind == "for_stmt":
            var, _in, it, body = t.children
            return ir.For(str(var), self.expr(it), self.block(body), span_of(var), span=span)
        if kind == "if_stmt":
            cond, body, *rest = t.children
            branches = [ir.IfBranch(self.expr(cond), self.block(body), span_of(cond))]
            orelse = None
            else_span = None
            for clause in rest:
                if clause.data == "elif_clause":
                    branches.append(ir.IfBranch(self.expr(clause.children[0]), self.block(clause.children[1]),
                                                span_of(clause.children[0])))
                else:
                    orelse = self.block(clause.children[0])
                    else_span = span_of(clause)
            return ir.If(branches, orelse, else_span, span=span)
        if kind == "return_stmt":
            return ir.Return(self.expr(t.children[0]) if t.children else None, span=span)
        if kind == "expr_stmt":
            return ir.ExprStmt(self.expr(t.children[0]), span=span)
        return None

    def _let(self, t: Tree) -> ir.LetStmt | None:
        name_tok = t.children[0]
        value = t.children[1]
        mod = self._module
        pred = ir.Predictor(str(name_tok), id=f"{mod.name}.{name_tok}", owner=mod.name, span=span_of(t),
                            name_span=span_of(name_tok))
        if len(t.children) == 4:
            pred.model_role = str(t.children[3])
            pred.model_role_span = span_of(t.children[3])
        ctor = self.expr(value)
        if not (isinstance(ctor, ir.Call) and isinstance(ctor.func, ir.Name)):
            self.error("E045", "`let` declares a predictor: `let name = Predict(Signature)`", span_of(value),
                       hint="kinds: " + ", ".join(ir.PREDICTOR_KINDS))
            return None
        kind = ctor.func.id
        if kind not in ir.PREDICTOR_KINDS:
            guess = suggest(kind, ir.PREDICTOR_KINDS)
            self.error("E045", f"unknown predictor kind `{kind}`", ctor.func.span,
                       hint=f"did you mean `{guess}`?" if guess else "kinds: " + ", ".join(ir.PREDICTOR_KINDS))
            # Keep the name declared (without a signature) so its calls do not cascade into E030.
            if mod.predictor(pred.name) is None:
                mod.predictors.append(pred)
            return None
        pred.kind = kind
        pred.options = ctor.kwargs
        if not ctor.args:
            self.error("E044", f"`{kind}` needs a signature", ctor.span,
                       hint=f'e.g. `{kind}(MySignature)` or `{kind}("question -> answer")`')
        else:
            sig_expr = ctor.args[0]
            pred.signature_span = sig_expr.span
            for extra in ctor.args[1:]:
                self.error("E045", "predictor options are keyword arguments", extra.span,
                           hint="e.g. `ReAct(Sig, tools: [search], max_iters: 5)`")
            if isinstance(sig_expr, ir.Name):
                pred.signature_ref = sig_expr.id
                sig = self.program.signatures.get(sig_expr.id) or self._imported_sigs.get(sig_expr.id)
                if sig is None and sig_expr.id not in self.program.unparsed_names:
                    known = list(self.program.signatures) + list(self._imported_sigs)
                    guess = suggest(sig_expr.id, known)
                    self.error("E044", f"unknown signature `{sig_expr.id}`", sig_expr.span,
                               hint=f"did you mean `{guess}`?" if guess else "declare it with `signature "
                               + sig_expr.id + " { ... }`")
                pred.signature = sig
            elif isinstance(sig_expr, ir.Literal) and isinstance(sig_expr.value, str):
                tok = self._string_token(value)
                if tok is not None:
                    pred.signature = self.inline_signature(tok, f"{mod.name}.{name_tok}")
            else:
                self.error("E044", "the first argument must be a signature name or an inline signature string",
                           sig_expr.span)
        if mod.predictor(pred.name) is not None:
            self.error("E020", f"predictor `{pred.name}` is already declared in `{mod.name}`", pred.name_span)
            return None
        mod.predictors.append(pred)
        return ir.LetStmt(pred, span=span_of(t))

    @staticmethod
    def _string_token(call: Tree) -> Token | None:
        for sub in call.iter_subtrees_topdown():
            if sub.data == "string":
                return sub.children[0]
        return None

    # ------------------------------------------------------------ expressions

    def _binary(self, children: list[Any]) -> ir.Expr:
        """Order a flat `a op b op c ...` by precedence (the grammar parses it flat for speed).
        A leading `not` covers the comparison after it, as in Python: `not a == b` is `not (a == b)`."""
        operands: list[tuple[list[Span], ir.Expr]] = []
        ops: list[str] = []
        i = 0
        while i < len(children):
            node = children[i]
            if is_token(node):
                op = str(node)
                if op == "not":  # `not in`
                    i += 1
                    op = "not in"
                ops.append(op)
            else:
                nots: list[Span] = []
                while isinstance(node, Tree) and node.data == "not_op":
                    nots.append(span_of(node))
                    node = node.children[-1]
                operands.append((nots, self.expr(node)))
            i += 1
        return _Climb(operands, ops).climb(1)

    def kwarg(self, t: Tree) -> ir.KwArg:
        return ir.KwArg(str(t.children[0]), self.expr(t.children[-1]), span_of(t.children[0]))

    def expr(self, t: Tree | Token) -> ir.Expr:
        span = span_of(t)
        if is_token(t):  # bare tokens only appear where a rule was inlined
            return ir.Name(str(t), span=span)
        kind = t.data
        c = t.children
        if kind == "name":
            return ir.Name(str(c[0]), span=span)
        if kind == "string":
            return ir.Literal(string_value(c[0]), span=span)
        if kind == "number":
            raw = str(c[0])
            value: Any = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
            return ir.Literal(value, span=span)
        if kind == "true":
            return ir.Literal(True, span=span)
        if kind == "false":
            return ir.Literal(False, span=span)
        if kind == "none":
            return ir.Literal(None, span=span)
        if kind == "list":
            return ir.ListExpr([self.expr(x) for x in c], span=span)
        if kind == "record":
            fields = [self.kwarg(x) for x in c]
            seen: set[str] = set()
            for f in fields:
                if f.name in seen:
                    self.error("E021", f"field `{f.name}` is given twice", f.span)
                seen.add(f.name)
            return ir.RecordExpr(fields, span=span)
        if kind == "attr":
            return ir.Attribute(self.expr(c[0]), str(c[1]), span_of(c[1]), span=span)
        if kind == "index":
            return ir.Index(self.expr(c[0]), self.expr(c[1]), span=span)
        if kind == "call":
            args: list[ir.Expr] = []
            kwargs: list[ir.KwArg] = []
            if len(c) > 1:
                arg_nodes = c[1].children if isinstance(c[1], Tree) and c[1].data == "args" else [c[1]]
                for a in arg_nodes:
                    if isinstance(a, Tree) and a.data == "kwarg":
                        kw = self.kwarg(a)
                        if any(k.name == kw.name for k in kwargs):
                            self.error("E021", f"argument `{kw.name}` is given twice", kw.span)
                            continue
                        kwargs.append(kw)
                    else:
                        if kwargs:
                            self.error("E043", "a positional argument cannot follow keyword arguments",
                                       span_of(a))
                        args.append(self.expr(a))
            return ir.Call(self.expr(c[0]), args, kwargs, span=span)
        if kind == "binary":
            return self._binary(c)
        if kind == "paren":
            return self.expr(c[0])
        if kind == "not_op":
            return ir.Not(self.expr(c[-1]), span=span)
        if kind == "neg":
            return ir.Neg(self.expr(c[-1]), span=span)
        if kind == "kwarg":  # a record-like argument outside a call
            return self.kwarg(t).value
        return ir.Literal(None, span=span)


def constant(expr: ir.Expr) -> Any:
    """The Python value of a constant expression (model settings, example values)."""
    if isinstance(expr, ir.Literal):
        return expr.value
    if isinstance(expr, ir.Neg):
        v = constant(expr.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v
    if isinstance(expr, ir.ListExpr):
        return [constant(x) for x in expr.items]
    if isinstance(expr, ir.RecordExpr):
        return {f.name: constant(f.value) for f in expr.fields}
    raise ValueError("not a constant")


def ir_related(decl: ir.Decl, message: str):  # noqa: ANN201 - small helper
    from lmp.diagnostics import Related

    return Related(decl.name_span, message, decl.path)


def lower(parsed: ParseResult, path: str, text: str, imported: Iterable[ir.Program] = ()) -> tuple[
        ir.Program, list[Diagnostic]]:
    lowering = Lowering(path, text, imported)
    previous = getattr(_current, "positions", None)
    _current.positions = parsed.positions or Positions(text)
    try:
        with gc_paused():  # the IR is acyclic: collections during lowering only cost time (4x on 1 MB)
            program = lowering.lower(parsed)
    finally:
        _current.positions = previous
    return program, parsed.diagnostics + lowering.diagnostics
