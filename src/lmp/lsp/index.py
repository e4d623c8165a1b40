"""A symbol index of one file, built from the IR (never from the text's grammar).

Every name the IR resolves becomes an `Occurrence`: where it is written, which declaration it
means (a hashable key that is the same in every file), and what kind of thing it is. Go to
definition, references, rename, hover and semantic tokens are lookups in this index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lmp.diagnostics import Span
from lmp.ir import nodes as ir
from lmp.ir.types import (
    PRIMITIVES,
    SPECIAL_TYPES,
    LiteralType,
    OptionalType,
    RecordType,
    Type,
    strip_optional,
)

Key = tuple[str, ...]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


@dataclass(slots=True)
class Occurrence:
    span: Span
    key: Key
    kind: str  # type | enum | signature | module | metric | predictor | field | output | param | variable |
    #           tool | retriever | model | member | builtin_type | predictor_kind
    is_def: bool = False
    obj: Any = None  # the IR object, for hover


@dataclass
class Local:
    name: str
    key: Key
    kind: str  # param | variable | predictor
    span: Span
    obj: Any = None
    signature: ir.Signature | None = None  # a prediction variable: outputs of this signature
    record: RecordType | None = None  # a variable holding a module's outputs
    type: Type | None = None


@dataclass
class Scope:
    module: ir.Module
    locals: dict[str, Local] = field(default_factory=dict)


def decl_key(decl: ir.Decl, fallback_path: str) -> Key:
    kind = {
        ir.TypeDecl: "type", ir.Signature: "sig", ir.Module: "module", ir.Tool: "tool",
        ir.Retriever: "retriever", ir.ModelDecl: "model", ir.Example: "example", ir.Import: "import",
    }.get(type(decl), "decl")
    return (kind, decl.path or fallback_path, decl.name)


def sig_key(sig: ir.Signature, fallback_path: str) -> Key:
    return ("sig", sig.path or fallback_path, sig.name)


def field_key(sig: ir.Signature, name: str, fallback_path: str) -> Key:
    return ("field", sig.path or fallback_path, sig.name, name)


class FileIndex:
    def __init__(self, program: ir.Program, path: str) -> None:
        self.program = program
        self.path = path
        self.text = program.text
        self.occurrences: list[Occurrence] = []
        self.scopes: dict[str, Scope] = {}
        self.defs: dict[Key, Occurrence] = {}
        self._build()
        self.occurrences.sort(key=lambda o: (o.span.start, o.span.end))
        self._starts = [o.span.start for o in self.occurrences]

    # ------------------------------------------------------------ queries

    def at(self, offset: int) -> Occurrence | None:
        """The innermost occurrence covering `offset` (its end counts, so a cursor after a name finds it)."""
        import bisect

        i = bisect.bisect_right(self._starts, offset)
        best: Occurrence | None = None
        for o in reversed(self.occurrences[max(0, i - 8):i]):
            if o.span.start <= offset <= o.span.end:
                if best is None or (o.span.end - o.span.start) < (best.span.end - best.span.start):
                    best = o
        return best

    def module_at(self, offset: int) -> ir.Module | None:
        for d in self.program.decls:
            if isinstance(d, ir.Module) and d.span.start <= offset <= max(d.span.end, d.span.start):
                return d
        return None

    def scope_at(self, offset: int) -> Scope | None:
        mod = self.module_at(offset)
        return self.scopes.get(mod.name) if mod is not None and mod.path in (None, self.path) else None

    # ------------------------------------------------------------ building

    def add(self, span: Span, key: Key, kind: str, is_def: bool = False, obj: Any = None) -> None:
        if span.end <= span.start and span.start == 0 and span.line == 0 and span.end_line == 0:
            return  # NO_SPAN
        occ = Occurrence(span, key, kind, is_def, obj)
        self.occurrences.append(occ)
        if is_def and key not in self.defs:
            self.defs[key] = occ

    def _build(self) -> None:
        prog = self.program
        for decl in prog.decls:
            if decl.path not in (None, self.path):
                continue
            try:
                self._decl(decl)
            except RecursionError:
                continue

    def _decl(self, decl: ir.Decl) -> None:
        path = self.path
        if isinstance(decl, ir.TypeDecl):
            kind = "enum" if isinstance(decl.type, LiteralType) else "type"
            self.add(decl.name_span, decl_key(decl, path), kind, True, decl)
            for member, span in decl.member_spans.items():
                self.add(span, ("member", path, decl.name, member), "member", True, (decl, member))
            self._type_refs(decl.type_span, skip_field_names=True)
        elif isinstance(decl, ir.Signature):
            self.add(decl.name_span, decl_key(decl, path), "signature", True, decl)
            self._sig_fields(decl)
        elif isinstance(decl, ir.Module):
            self._module(decl)
        elif isinstance(decl, ir.Tool):
            self.add(decl.name_span, decl_key(decl, path), "tool", True, decl)
            for p in decl.params:
                self.add(p.span, ("tparam", path, decl.name, p.name), "param", True, (decl, p))
                if p.type_span is not None:
                    self._type_refs(p.type_span)
                if p.default is not None:
                    self._expr(p.default, None)
            self._type_refs(_between(self.text, decl.span, "->", "="))
        elif isinstance(decl, ir.Retriever):
            self.add(decl.name_span, decl_key(decl, path), "retriever", True, decl)
        elif isinstance(decl, ir.ModelDecl):
            self.add(decl.name_span, decl_key(decl, path), "model", True, decl)
        elif isinstance(decl, ir.Example):
            self._example(decl)
        elif isinstance(decl, ir.TestBlock):
            # The target and inputs resolve like an example's; metrics and modules called in expectations too.
            self._example(ir.Example(decl.name, decl.target, decl.inputs, target_span=decl.target_span))
            for e in decl.expectations:
                self._expr(e.expr, None)

    def _sig_fields(self, sig: ir.Signature) -> None:
        for f in (*sig.inputs, *sig.outputs):
            self.add(f.span, field_key(sig, f.name, self.path), "field", True, (sig, f))
            if not sig.inline and f.type_span != f.span:
                self._type_refs(f.type_span)

    def _type_refs(self, span: Span | None, skip_field_names: bool = False) -> None:
        """Type names written inside a type expression's span."""
        if span is None or span.end <= span.start:
            return
        raw = self.text[span.start:span.end]
        bare = _STRING.sub(lambda m: " " * len(m.group()), raw)
        for m in _IDENT.finditer(bare):
            name = m.group()
            after = bare[m.end():m.end() + 8].lstrip()
            if skip_field_names and after.startswith(":"):
                continue
            start = span.start + m.start()
            sub = _span_in(self.text, span, m.start(), m.end())
            decl = self.program.types.get(name)
            if name in PRIMITIVES or name in ("list", "dict") or name in SPECIAL_TYPES and decl is None:
                self.add(sub, ("builtin", name), "builtin_type")
                continue
            if decl is not None:
                kind = "enum" if isinstance(decl.type, LiteralType) else "type"
                self.add(sub, decl_key(decl, self.path), kind, False, decl)
            del start

    def _example(self, ex: ir.Example) -> None:
        prog = self.program
        sig: ir.Signature | None = None
        target = ex.target
        if "." in target:
            mod_name, pred_name = target.split(".", 1)
            mod = prog.modules.get(mod_name)
            pred = mod.predictor(pred_name) if mod is not None else None
            if pred is not None:
                self.add(ex.target_span, ("pred", mod.path or self.path, mod.name, pred.name), "predictor",
                         False, pred)
                sig = pred.signature
        elif target in prog.signatures:
            sig = prog.signatures[target]
            self.add(ex.target_span, sig_key(sig, self.path), "signature", False, sig)
        elif target in prog.modules:
            mod = prog.modules[target]
            self.add(ex.target_span, decl_key(mod, self.path), "module", False, mod)
            for kw in ex.values:
                p = next((p for p in mod.params if p.name == kw.name), None)
                if p is not None:
                    self.add(kw.span, ("local", mod.path or self.path, mod.name, kw.name), "param", False,
                             (mod, p))
            return
        for kw in ex.values:
            if sig is not None:
                f = sig.field(kw.name)
                if f is not None:
                    self.add(kw.span, field_key(sig, f.name, self.path), "field", False, (sig, f))
                    self._member_literal(f.type, kw.value)

    # ------------------------------------------------------------ modules

    def _module(self, mod: ir.Module) -> None:
        path = self.path
        kind = "metric" if mod.is_metric else "module"
        self.add(mod.name_span, decl_key(mod, path), kind, True, mod)
        scope = Scope(mod)
        self.scopes[mod.name] = scope
        for p in mod.params:
            key = ("local", path, mod.name, p.name)
            scope.locals[p.name] = Local(p.name, key, "param", p.span, (mod, p), type=p.type)
            self.add(p.span, key, "param", True, (mod, p))
            if p.type_span is not None:
                self._type_refs(p.type_span)
        for f in mod.outputs:
            self.add(f.span, ("mout", path, mod.name, f.name), "output", True, (mod, f))
            self._type_refs(f.type_span)
        if mod.returns_span is not None:
            self._type_refs(mod.returns_span)
        for pred in mod.predictors:
            key = ("pred", path, mod.name, pred.name)
            scope.locals[pred.name] = Local(pred.name, key, "predictor", pred.name_span, pred)
            self.add(pred.name_span, key, "predictor", True, pred)
            if pred.signature_ref and pred.signature is not None:
                self.add(pred.signature_span, sig_key(pred.signature, path), "signature", False, pred.signature)
            elif pred.signature is not None and pred.signature.inline:
                self._sig_fields(pred.signature)
            if pred.model_role and pred.model_role_span is not None:
                model = self.program.models.get(pred.model_role)
                if model is not None:
                    self.add(pred.model_role_span, decl_key(model, path), "model", False, model)
            m = re.match(r"let\s+\w+\s*=\s*(\w+)", self.text[pred.span.start:pred.span.end])
            if m:
                self.add(_span_in(self.text, pred.span, m.start(1), m.end(1)), ("builtin", pred.kind),
                         "predictor_kind")
            for opt in pred.options:
                self._expr(opt.value, scope)
        self._stmts(mod.body, scope)

    def _stmts(self, stmts: list[ir.Stmt], scope: Scope) -> None:
        for s in stmts:
            self._stmt(s, scope)

    def _define(self, scope: Scope, name: str, span: Span, value: ir.Expr | None,
                annotation: Type | None = None) -> None:
        mod = scope.module
        local = scope.locals.get(name)
        if local is None or local.kind == "predictor":
            key = ("local", self.path, mod.name, name)
            local = Local(name, key, "variable", span)
            scope.locals[name] = local
            self.add(span, key, "variable", True, local)
        else:
            self.add(span, local.key, local.kind, False, _ref_obj(local))
        if annotation is not None:
            local.type = annotation
        if value is not None:
            sig, record = self._value_shape(value, scope)
            if sig is not None:
                local.signature, local.record = sig, None
            elif record is not None:
                local.record, local.signature = record, None
            t = self.program.expr_types.get(id(value))
            if t is not None and annotation is None:
                local.type = t

    def _value_shape(self, value: ir.Expr, scope: Scope) -> tuple[ir.Signature | None, RecordType | None]:
        """What a variable holds: a prediction (a signature's outputs) or a module's outputs."""
        if isinstance(value, ir.Call) and isinstance(value.func, ir.Name):
            local = scope.locals.get(value.func.id)
            if local is not None and local.kind == "predictor":
                return local.obj.signature, None
            mod = self.program.modules.get(value.func.id)
            if mod is not None and local is None:
                return None, mod.output_record()
        t = self.program.expr_types.get(id(value))
        if t is not None and isinstance(strip_optional(t), RecordType):
            return None, strip_optional(t)  # type: ignore[return-value]
        return None, None

    def _stmt(self, s: ir.Stmt, scope: Scope) -> None:
        if isinstance(s, ir.Assign):
            self._expr(s.value, scope)
            if s.annotation_span is not None:
                self._type_refs(s.annotation_span)
            self._define(scope, s.target, s.target_span, s.value, s.annotation)
        elif isinstance(s, ir.AugAssign):
            self._expr(s.value, scope)
            local = scope.locals.get(s.target)
            if local is not None:
                self.add(s.target_span, local.key, local.kind, False, _ref_obj(local))
        elif isinstance(s, ir.For):
            self._expr(s.iter, scope)
            self._define(scope, s.var, s.var_span, None)
            self._stmts(s.body, scope)
        elif isinstance(s, ir.If):
            for b in s.branches:
                self._expr(b.cond, scope)
                self._stmts(b.body, scope)
            if s.orelse:
                self._stmts(s.orelse, scope)
        elif isinstance(s, ir.Return):
            if s.value is not None:
                if isinstance(s.value, ir.RecordExpr) and not scope.module.is_metric:
                    for kw in s.value.fields:
                        f = next((f for f in scope.module.outputs if f.name == kw.name), None)
                        if f is not None:
                            self.add(kw.span, ("mout", self.path, scope.module.name, kw.name), "output", False,
                                     (scope.module, f))
                        self._expr(kw.value, scope)
                else:
                    self._expr(s.value, scope)
        elif isinstance(s, ir.ExprStmt):
            self._expr(s.expr, scope)

    def _expr(self, e: ir.Expr, scope: Scope | None) -> None:
        if isinstance(e, ir.Name):
            self._name(e, scope)
        elif isinstance(e, ir.Call):
            self._expr(e.func, scope)
            for a in e.args:
                self._expr(a, scope)
            self._call_kwargs(e, scope)
            for kw in e.kwargs:
                self._expr(kw.value, scope)
        elif isinstance(e, ir.Attribute):
            self._expr(e.obj, scope)
            f_sig = self._attr_field(e, scope)
            if f_sig is not None:
                sig, f = f_sig
                self.add(e.name_span, field_key(sig, f.name, self.path), "field", False, (sig, f))
        elif isinstance(e, ir.Compare):
            self._expr(e.left, scope)
            self._expr(e.right, scope)
            if e.op in ("==", "!="):
                for a, b in ((e.left, e.right), (e.right, e.left)):
                    t = self.field_type(a, scope)
                    if t is not None:
                        self._member_literal(t, b)
        elif isinstance(e, (ir.BinOp, ir.BoolOp)):
            self._expr(e.left, scope)
            self._expr(e.right, scope)
        elif isinstance(e, (ir.Not, ir.Neg)):
            self._expr(e.operand, scope)
        elif isinstance(e, ir.ListExpr):
            for x in e.items:
                self._expr(x, scope)
        elif isinstance(e, ir.Index):
            self._expr(e.obj, scope)
            self._expr(e.index, scope)
        elif isinstance(e, ir.RecordExpr):
            for kw in e.fields:
                self._expr(kw.value, scope)

    def _member_literal(self, t: Type, value: ir.Expr) -> None:
        t = strip_optional(t)
        if isinstance(t, LiteralType) and t.name and isinstance(value, ir.Literal) and isinstance(value.value, str):
            decl = self.program.types.get(t.name)
            if decl is not None and value.value in t.members:
                self.add(value.span, ("member", decl.path or self.path, decl.name, value.value), "member", False,
                         (decl, value.value))

    def field_type(self, e: ir.Expr, scope: Scope | None) -> Type | None:
        """The declared type of a `pred.field` expression (or the checker's type of any expression)."""
        if isinstance(e, ir.Attribute):
            f_sig = self._attr_field(e, scope)
            if f_sig is not None:
                return f_sig[1].type
            rec = self._attr_record_field(e, scope)
            if rec is not None:
                return rec.type
        return self.program.expr_types.get(id(e))

    def _attr_field(self, e: ir.Attribute, scope: Scope | None) -> tuple[ir.Signature, ir.Field] | None:
        if scope is None or not isinstance(e.obj, ir.Name):
            return None
        local = scope.locals.get(e.obj.id)
        if local is None or local.signature is None:
            return None
        f = next((f for f in local.signature.outputs if f.name == e.name), None)
        return (local.signature, f) if f is not None else None

    def _attr_record_field(self, e: ir.Attribute, scope: Scope | None) -> Any:
        t = self.program.expr_types.get(id(e.obj))
        if t is None and scope is not None and isinstance(e.obj, ir.Name):
            local = scope.locals.get(e.obj.id)
            t = local.record if local is not None else None
        t = strip_optional(t) if t is not None else None
        if isinstance(t, RecordType):
            return t.field(e.name)
        return None

    def _name(self, e: ir.Name, scope: Scope | None) -> None:
        if scope is not None:
            local = scope.locals.get(e.id)
            if local is not None:
                self.add(e.span, local.key, local.kind, False, _ref_obj(local))
                return
        prog = self.program
        for table, kind in ((prog.tools, "tool"), (prog.retrievers, "retriever"), (prog.modules, "module"),
                            (prog.signatures, "signature"), (prog.types, "type")):
            decl = table.get(e.id)
            if decl is not None:
                if kind == "module" and decl.is_metric:
                    kind = "metric"
                self.add(e.span, decl_key(decl, self.path), kind, False, decl)
                return

    def _call_kwargs(self, call: ir.Call, scope: Scope | None) -> None:
        callee = self.callee(call.func, scope)
        if callee is None:
            return
        kind, obj = callee
        for kw in call.kwargs:
            if kind == "predictor" and obj.signature is not None:
                f = next((f for f in obj.signature.inputs if f.name == kw.name), None)
                if f is not None:
                    self.add(kw.span, field_key(obj.signature, f.name, self.path), "field", False,
                             (obj.signature, f))
                    self._member_literal(f.type, kw.value)
            elif kind == "tool":
                p = next((p for p in obj.params if p.name == kw.name), None)
                if p is not None:
                    self.add(kw.span, ("tparam", obj.path or self.path, obj.name, p.name), "param", False, (obj, p))
            elif kind == "module":
                p = next((p for p in obj.params if p.name == kw.name), None)
                if p is not None:
                    self.add(kw.span, ("local", obj.path or self.path, obj.name, p.name), "param", False, (obj, p))

    def callee(self, func: ir.Expr, scope: Scope | None) -> tuple[str, Any] | None:
        if not isinstance(func, ir.Name):
            return None
        name = func.id
        if scope is not None:
            local = scope.locals.get(name)
            if local is not None:
                return ("predictor", local.obj) if local.kind == "predictor" else None
        if name in self.program.tools:
            return "tool", self.program.tools[name]
        if name in self.program.modules:
            return "module", self.program.modules[name]
        return None


def _span_in(text: str, outer: Span, rel_start: int, rel_end: int) -> Span:
    """A sub-span of `outer` given offsets relative to its start (may cross lines)."""
    start = outer.start + rel_start
    end = outer.start + rel_end
    line, col = outer.line, outer.col
    seg = text[outer.start:start]
    nl = seg.count("\n")
    if nl:
        line += nl
        col = len(seg) - seg.rfind("\n") - 1
    else:
        col += len(seg)
    seg2 = text[start:end]
    nl2 = seg2.count("\n")
    if nl2:
        end_line, end_col = line + nl2, len(seg2) - seg2.rfind("\n") - 1
    else:
        end_line, end_col = line, col + len(seg2)
    return Span(start, end, line, col, end_line, end_col)


def _between(text: str, span: Span, after: str, before: str) -> Span | None:
    """The part of a declaration between two markers (a tool's return type: between `->` and `=`)."""
    raw = text[span.start:span.end]
    bare = _STRING.sub(lambda m: " " * len(m.group()), raw)
    i = bare.find(after)
    if i < 0:
        return None
    j = bare.find(before, i + len(after))
    if j < 0:
        return None
    return _span_in(text, span, i + len(after), j)


def render_type_decl(decl: ir.TypeDecl) -> str:
    t = decl.type
    if isinstance(t, LiteralType):
        return f"type {decl.name} = {t.render_members()}"
    if isinstance(t, RecordType):
        lines = [f"type {decl.name} = {{"]
        for f in t.fields:
            desc = f' "{f.description}"' if f.description else ""
            lines.append(f"  {f.name}: {f.type.render()}{desc}")
        lines.append("}")
        return "\n".join(lines)
    return f"type {decl.name} = {t.render()}"


def render_signature(sig: ir.Signature) -> str:
    lines = [f"signature {sig.name} {{"]
    lines.append(f'  """{sig.effective_instructions()}"""')
    for f in (*sig.inputs, *sig.outputs):
        desc = f' "{f.description}"' if f.description else ""
        lines.append(f"  {f.role:<3} {f.name}: {f.type.render()}{desc}")
    lines.append("}")
    return "\n".join(lines)


def type_detail(t: Type) -> str:
    base = strip_optional(t)
    if isinstance(base, LiteralType) and base.name:
        return f"{t.render()} = {base.render_members()}"
    if isinstance(base, RecordType) and base.name:
        return f"{t.render()} = " + "{" + ", ".join(f"{f.name}: {f.type.render()}" for f in base.fields) + "}"
    return t.render()


__all__ = ["FileIndex", "Occurrence", "Local", "Scope", "render_signature", "render_type_decl", "type_detail",
           "OptionalType"]


def _ref_obj(local: Local) -> Any:
    """What an occurrence of `local` carries, the same at its definition and every use: hover reads
    `(module, param)` for a parameter, the predictor for a predictor, the Local for a variable (an
    assignment to a parameter, `question = question + "x"`, is still the parameter)."""
    return local.obj if local.kind != "variable" else local
