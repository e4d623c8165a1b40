"""Flow and type checking of module and metric bodies, predictors, examples and tools.

Types flow forward through statements; a variable's type is its annotation, or the join of
what was assigned to it. Every unknown is typed `any` after its diagnostic, so one mistake
is reported once and never cascades.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmp.checker import metric_returns
from lmp.checker.secrets import check_secrets
from lmp.checker.tests_blocks import check_test
from lmp.diagnostics import Diagnostic, Fix, Related, Severity, Span, suggest
from lmp.ir import nodes as ir
from lmp.ir.builtins import BUILTINS
from lmp.ir.lower import constant
from lmp.ir.types import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    NONE,
    STR,
    AnyType,
    DictType,
    ListType,
    LiteralType,
    MediaType,
    OptionalType,
    PrimType,
    RecordField,
    RecordType,
    Type,
    is_assignable,
    join,
    strip_optional,
)
from lmp.syntax.gcpause import gc_paused

REASONING = RecordField("reasoning", STR, "step-by-step reasoning before the answer")

PREDICTOR_OPTIONS: dict[str, dict[str, Type]] = {
    "Predict": {"temperature": FLOAT, "n": INT},
    "ChainOfThought": {"temperature": FLOAT, "n": INT},
    "ReAct": {"tools": ListType(ANY), "max_iters": INT, "temperature": FLOAT},
    "Refine": {"N": INT, "reward": ANY, "threshold": FLOAT, "temperature": FLOAT},
    "BestOfN": {"N": INT, "reward": ANY, "threshold": FLOAT, "temperature": FLOAT},
}


def prediction_type(pred: ir.Predictor) -> Type:
    """What calling a predictor returns: a record of its outputs (plus `reasoning` for CoT)."""
    if pred.signature is None:
        return ANY
    fields = [RecordField(f.name, f.type, f.description) for f in pred.signature.outputs]
    if pred.kind in ("ChainOfThought", "ReAct"):
        fields.insert(0, REASONING)
    name = pred.signature.name if not pred.signature.inline else None
    return RecordType(tuple(fields), name)


def widen(t: Type) -> Type:
    """The type a variable takes from a value: a one-string literal becomes `str`."""
    if isinstance(t, LiteralType) and t.name is None:
        return STR
    if isinstance(t, ListType):
        return ListType(widen(t.item))
    return t


@dataclass
class Var:
    """A variable of a body as the checker tracks it: its type and how it was declared and used."""

    name: str
    type: Type
    span: Span
    annotated: bool = False
    used: bool = False
    is_param: bool = False
    is_loop: bool = False


@dataclass
class Scope:
    """Variables of one body, and which are definitely assigned at this point of the flow."""

    vars: dict[str, Var]
    assigned: set[str] = field(default_factory=set)

    def fork(self) -> Scope:
        return Scope(self.vars, set(self.assigned))


class Checker:
    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.diags: list[Diagnostic] = []
        self.module: ir.Module | None = None
        self.used_predictors: set[str] = set()

    # ------------------------------------------------------------------ reporting

    def report(self, code: str, message: str, span: Span, hint: str | None = None,
               severity: Severity = Severity.ERROR, fixes: list[Fix] | None = None,
               related: list[Related] | None = None, tags: tuple[str, ...] = ()) -> None:
        self.diags.append(Diagnostic(code, message, span, severity, hint, self.program.path,
                                     related or [], fixes or [], tags))

    def typed(self, expr: ir.Expr, t: Type) -> Type:
        self.program.expr_types[id(expr)] = t
        return t

    # ------------------------------------------------------------------ entry

    def run(self) -> list[Diagnostic]:
        for decl in self.program.decls:
            try:
                if isinstance(decl, ir.Module):
                    self.check_module(decl)
                elif isinstance(decl, ir.Example):
                    self.check_example(decl)
                elif isinstance(decl, ir.Tool):
                    self.check_tool(decl)
                elif isinstance(decl, ir.ToolServer):
                    check_tool_server(self, decl)
                elif isinstance(decl, ir.TestBlock):
                    check_test(self, decl)
            except RecursionError:
                self.report("E003", "nesting too deep to check", decl.span)
        check_media_outputs(self)
        return self.diags

    # ------------------------------------------------------------------ declarations

    def check_tool(self, tool: ir.Tool) -> None:
        for p in tool.params:
            if p.default is not None:
                t = self.expr(p.default, Scope({}))
                if not is_assignable(t, p.type):
                    self.report("E080", f"default of `{p.name}` is `{t.render()}`, not `{p.type.render()}`",
                                p.default.span)

    def check_example(self, ex: ir.Example) -> None:
        fields = self.example_fields(ex.target)
        if fields is None:
            known = list(self.program.signatures) + list(self.program.modules) + list(self.program.predictors())
            guess = suggest(ex.target, known)
            self.report("E120", f"`{ex.target}` is not a signature, module or predictor", ex.target_span,
                        hint=f"did you mean `{guess}`?" if guess else "an example belongs to a signature, a module "
                        "or a predictor (`Module.name`)")
            return
        given = set()
        for kv in ex.values:
            given.add(kv.name)
            expected = fields.get(kv.name)
            if expected is None:
                guess = suggest(kv.name, list(fields))
                if guess:
                    given.add(guess)
                self.report("E120", f"`{ex.target}` has no field `{kv.name}`", kv.span,
                            hint=f"did you mean `{guess}`?" if guess else "fields: " + ", ".join(fields),
                            fixes=[Fix(f"Rename to `{guess}`", kv.span, guess)] if guess else None)
                continue
            try:
                constant(kv.value)
            except ValueError:
                self.report("E121", "example values must be constants", kv.value.span)
                continue
            t = self.expr(kv.value, Scope({}))
            if not is_assignable(t, expected[0]):
                self.report("E121", f"`{kv.name}` is `{expected[0].render()}`, but the example gives "
                            f"`{t.render()}`", kv.value.span, hint=self.literal_hint(expected[0]))
        missing = [n for n, (_, role) in fields.items() if role == "in" and n not in given]
        if missing:
            self.report("W122", f"example for `{ex.target}` has no value for " + ", ".join(f"`{m}`" for m in missing),
                        ex.target_span, severity=Severity.WARNING,
                        hint="previews show a placeholder for missing inputs")

    def example_fields(self, target: str) -> dict[str, tuple[Type, str]] | None:
        sig = self.program.signatures.get(target)
        if sig is None and "." in target:
            pred = self.program.predictors().get(target)
            sig = pred.signature if pred is not None else None
            if pred is not None and sig is None:
                return {}
        if sig is not None:
            return {f.name: (f.type, f.role) for f in (*sig.inputs, *sig.outputs)}
        mod = self.program.modules.get(target)
        if mod is not None:
            # Parameters with a default may be left out of an example ("opt" is not reported missing).
            out: dict[str, tuple[Type, str]] = {
                p.name: (p.type, "in" if p.default is None else "opt") for p in mod.params}
            out.update({f.name: (f.type, "out") for f in mod.outputs})
            return out
        return None

    def check_module(self, mod: ir.Module) -> None:
        self.module = mod
        self.used_predictors = set()
        scope = Scope({})
        for p in mod.params:
            scope.vars[p.name] = Var(p.name, p.type, p.span, annotated=p.annotated, is_param=True, used=True)
            scope.assigned.add(p.name)
            if p.default is not None:
                t = self.expr(p.default, Scope({}))
                if not is_assignable(t, p.type):
                    self.report("E080", f"default of `{p.name}` is `{t.render()}`, not `{p.type.render()}`",
                                p.default.span)
        for pred in mod.predictors:
            self.check_predictor(pred)
        if mod.is_metric and mod.returns is not None and mod.returns_span is not None:
            for problem in metric_returns.return_type_problems(mod.returns):
                self.report(problem.code, problem.message, mod.returns_span, hint=problem.hint)
        falls_through = self.block(mod.body, scope)
        needs_return = bool(mod.outputs) or (mod.is_metric and mod.returns is not None)
        # After a syntax error the body is what recovery kept: a missing return, an unused predictor
        # or variable, unreachable code may all be the dropped line's doing. The syntax error is the
        # one report; these come back once it is fixed.
        if mod.syntax_error:
            self.module = None
            return
        if falls_through and needs_return:
            what = "its outputs" if not mod.is_metric else "a score"
            self.report("E071", f"`{mod.name}` can reach its end without returning {what}", mod.name_span,
                        hint="add a `return` on every path")
        for pred in mod.predictors:
            if pred.name not in self.used_predictors and pred.signature is not None:
                self.report("W200", f"predictor `{pred.name}` is never called", pred.name_span,
                            severity=Severity.WARNING, tags=("unnecessary",),
                            hint="call it or remove the `let`")
        for var in scope.vars.values():
            if not var.used and not var.is_param and not var.is_loop and not var.name.startswith("_"):
                self.report("W201", f"variable `{var.name}` is assigned but never used", var.span,
                            severity=Severity.WARNING, tags=("unnecessary",))
        self.module = None

    def check_predictor(self, pred: ir.Predictor) -> None:
        if pred.kind not in PREDICTOR_OPTIONS:
            return  # an unknown kind was reported by lowering
        allowed = PREDICTOR_OPTIONS[pred.kind]
        for opt in pred.options:
            if opt.name not in allowed:
                guess = suggest(opt.name, list(allowed))
                self.report("E045", f"`{pred.kind}` has no option `{opt.name}`", opt.span,
                            hint=f"did you mean `{guess}`?" if guess else "options: " + ", ".join(allowed))
                continue
            if opt.name == "tools":
                self.check_react_tools(opt.value)
            elif opt.name == "reward":
                if not (isinstance(opt.value, ir.Name) and opt.value.id in self.program.metrics):
                    self.report("E045", "`reward` must name a metric declared with `metric`", opt.value.span)
            else:
                t = self.expr(opt.value, Scope({}))
                if not is_assignable(t, allowed[opt.name]):
                    self.report("E045", f"option `{opt.name}` must be `{allowed[opt.name].render()}`",
                                opt.value.span)
        if pred.kind == "ReAct" and not any(o.name == "tools" for o in pred.options):
            self.report("E045", "`ReAct` needs `tools: [...]`", pred.name_span,
                        hint="e.g. `ReAct(Sig, tools: [search], max_iters: 5)`")
        if pred.kind in ("Refine", "BestOfN") and not any(o.name == "reward" for o in pred.options):
            self.report("E045", f"`{pred.kind}` needs `reward: <metric>`", pred.name_span)
        if pred.model_role and pred.model_role not in self.program.models and pred.model_role != "default":
            self.report("W110", f"model role `{pred.model_role}` is not declared in this program",
                        pred.model_role_span or pred.name_span, severity=Severity.WARNING,
                        hint=f'declare it (`model {pred.model_role} = "provider/model"`) or pass '
                        f"`--model {pred.model_role}=ID` / LMP_MODEL_{pred.model_role.upper()}")

    def check_react_tools(self, value: ir.Expr) -> None:
        if not isinstance(value, ir.ListExpr):
            self.report("E045", "`tools` is a list of tool names, e.g. `[search, calculator]`", value.span)
            return
        for item in value.items:
            if server_tool_ref(self, item, react=True):
                continue
            if not (isinstance(item, ir.Name) and (item.id in self.program.tools or item.id in self.program.retrievers)):
                name = item.id if isinstance(item, ir.Name) else "this"
                guess = suggest(name, list(self.program.tools)) if isinstance(item, ir.Name) else None
                self.report("E030", f"`{name}` is not a tool", item.span,
                            hint=f"did you mean `{guess}`?" if guess else "declare it with `tool name(...) = \"pkg.mod:fn\"`")

    # ------------------------------------------------------------------ statements

    def block(self, stmts: list[ir.Stmt], scope: Scope) -> bool:
        """Check statements in order; return whether control can fall off the end."""
        live = True
        for stmt in stmts:
            if not live and not (self.module is not None and self.module.syntax_error):
                self.report("W202", "unreachable code: a `return` comes before it", stmt.span,
                            severity=Severity.WARNING, tags=("unnecessary",))
                return False
            live = self.stmt(stmt, scope)
        return live

    def assign(self, name: str, t: Type, span: Span, scope: Scope, annotation: Type | None = None,
               value_span: Span | None = None, is_loop: bool = False) -> None:
        mod = self.module
        if mod is not None and mod.predictor(name) is not None:
            self.report("E023", f"`{name}` is a predictor and cannot be reassigned", span,
                        hint="choose another name for the variable")
            return
        var = scope.vars.get(name)
        if annotation is not None:
            if var is not None and var.annotated and var.type != annotation:
                self.report("E080", f"`{name}` was declared `{var.type.render()}`", span)
            if not is_assignable(t, annotation):
                self.report("E080", f"cannot assign `{t.render()}` to `{name}: {annotation.render()}`",
                            value_span or span, hint=self.literal_hint(annotation))
            if var is None:
                scope.vars[name] = Var(name, annotation, span, annotated=True, is_loop=is_loop)
            else:
                var.type, var.annotated = annotation, True
        elif var is None:
            scope.vars[name] = Var(name, widen(t), span, is_loop=is_loop)
        elif var.annotated:
            if not is_assignable(t, var.type):
                self.report("E080", f"cannot assign `{t.render()}` to `{name}`, declared `{var.type.render()}`",
                            value_span or span, hint=self.literal_hint(var.type))
        else:
            var.type = join(var.type, widen(t))
        scope.assigned.add(name)

    def stmt(self, stmt: ir.Stmt, scope: Scope) -> bool:
        if isinstance(stmt, ir.LetStmt):
            return True
        if isinstance(stmt, ir.Assign):
            t = self.expr(stmt.value, scope)
            self.assign(stmt.target, t, stmt.target_span, scope, stmt.annotation, stmt.value.span)
            return True
        if isinstance(stmt, ir.AugAssign):
            self.aug_assign(stmt, scope)
            return True
        if isinstance(stmt, ir.ExprStmt):
            if self.misspelt_return(stmt.expr, scope):
                return False  # meant as a return: no "can reach its end" or "unreachable" after it
            self.expr(stmt.expr, scope)
            return True
        if isinstance(stmt, ir.Return):
            self.check_return(stmt, scope)
            return False
        if isinstance(stmt, ir.For):
            it = strip_optional(self.expr(stmt.iter, scope))
            if isinstance(it, ListType):
                item: Type = it.item
            elif isinstance(it, (PrimType, LiteralType)) and is_assignable(it, STR):
                item = STR
            elif isinstance(it, DictType):
                item = STR
            elif isinstance(it, AnyType):
                item = ANY
            else:
                self.report("E082", f"cannot loop over `{it.render()}`", stmt.iter.span,
                            hint="loop over a list, e.g. `for i in range(3)`")
                item = ANY
            body = scope.fork()
            self.assign(stmt.var, item, stmt.var_span, body, is_loop=True)
            self.block(stmt.body, body)
            # A second pass lets types widened by `+=`/assignment in the body reach its start.
            # The body may run zero times: what it assigns is not definitely assigned after.
            return True
        if isinstance(stmt, ir.If):
            outs: list[set[str]] = []
            any_live = False
            for branch in stmt.branches:
                self.expr(branch.cond, scope)
                inner = scope.fork()
                if self.block(branch.body, inner):
                    outs.append(inner.assigned)
                    any_live = True
            if stmt.orelse is not None:
                inner = scope.fork()
                if self.block(stmt.orelse, inner):
                    outs.append(inner.assigned)
                    any_live = True
            else:
                outs.append(set(scope.assigned))
                any_live = True
            if outs:
                scope.assigned = set.intersection(*outs)
            return any_live
        return True

    def aug_assign(self, stmt: ir.AugAssign, scope: Scope) -> None:
        value_t = self.expr(stmt.value, scope)
        var = scope.vars.get(stmt.target)
        if var is None or stmt.target not in scope.assigned:
            if var is None:
                self.unknown_name(stmt.target, stmt.target_span, scope)
            elif not self.lost(stmt.target):
                self.report("E031", f"`{stmt.target}` may be used before it is assigned", stmt.target_span,
                            hint=f"give it a starting value first, e.g. `{stmt.target} = []`")
            return
        var.used = True
        cur = strip_optional(var.type)
        ok = True
        new: Type = cur
        if isinstance(cur, AnyType) or isinstance(value_t, AnyType):
            pass
        elif isinstance(cur, ListType):
            if isinstance(value_t, ListType):
                ok = is_assignable(value_t.item, cur.item) or (not var.annotated and isinstance(cur.item, AnyType))
                if not var.annotated:
                    new = ListType(join(cur.item, widen(value_t.item)) if not isinstance(cur.item, AnyType)
                                   else widen(value_t.item))
            else:
                self.report("E080", f"cannot add `{value_t.render()}` to the list `{stmt.target}` "
                            f"(`{cur.render()}`)", stmt.value.span,
                            hint="`+=` extends a list with another list; wrap one item in brackets: `[x]`")
                return
        elif is_assignable(cur, STR):
            ok = is_assignable(value_t, STR)
            new = STR
        elif cur in (INT, FLOAT):
            ok = value_t in (INT, FLOAT)
            new = FLOAT if FLOAT in (cur, value_t) else INT
        else:
            ok = False
        if not ok:
            self.report("E080", f"cannot add `{value_t.render()}` to `{stmt.target}` (`{cur.render()}`)",
                        stmt.value.span)
            return
        if not var.annotated:
            var.type = new

    def check_feedback_return(self, mod: ir.Module, expected: RecordType, t: Type, span: Span) -> None:
        """A feedback metric's `return (score: ..., feedback: ...)`: every declared field, of its type."""
        if isinstance(t, AnyType):
            return
        if not isinstance(t, RecordType):
            self.report("E070", f"metric `{mod.name}` returns `{expected.render()}`, not `{t.render()}`", span,
                        hint="return a record: (" + ", ".join(f"{f.name}: ..." for f in expected.fields) + ")")
            return
        for name in metric_returns.missing_fields(t, expected):
            what = "the feedback text" if name == metric_returns.FEEDBACK else f"`{name}`"
            self.report("E132", f"metric `{mod.name}` must return {what}: the record has no `{name}`", span,
                        hint=f"add `{name}: ...` to the returned record (or declare it optional: `{name}: ...?`)")
        for f in t.fields:
            want = expected.field(f.name)
            if want is None:
                self.report("E070", f"metric `{mod.name}` declares no field `{f.name}` in its record", span,
                            hint="its fields: " + ", ".join(x.name for x in expected.fields))
            elif not (is_assignable(f.type, want.type) or (f.type == BOOL and metric_returns.is_score_type(want.type))):
                self.report("E070", f"field `{f.name}` of metric `{mod.name}` is `{want.type.render()}`, "
                            f"not `{f.type.render()}`", span)

    def check_return(self, stmt: ir.Return, scope: Scope) -> None:
        mod = self.module
        assert mod is not None
        if stmt.value is None:
            if mod.outputs or (mod.is_metric and mod.returns is not None):
                self.report("E070", f"`{mod.name}` must return a value", stmt.span)
            return
        t = self.expr(stmt.value, scope)
        if mod.is_metric:
            expected = mod.returns or FLOAT
            if isinstance(expected, RecordType):
                self.check_feedback_return(mod, expected, t, stmt.value.span)
                return
            if not (is_assignable(t, expected) or (expected == FLOAT and t == BOOL) or (
                    expected == BOOL and t in (INT, FLOAT))):
                self.report("E070", f"metric `{mod.name}` returns `{expected.render()}`, not `{t.render()}`",
                            stmt.value.span)
            return
        if not mod.outputs:
            self.report("E070", f"`{mod.name}` declares no outputs", stmt.value.span,
                        hint="declare them: `module Name(...) -> (answer: str)`")
            return
        if isinstance(t, AnyType):
            return
        if not isinstance(t, RecordType):
            if len(mod.outputs) == 1:
                out = mod.outputs[0]
                self.report("E070", f"`{mod.name}` returns a record `({out.name}: {out.type.render()})`, not "
                            f"`{t.render()}`", stmt.value.span,
                            hint=f"write `return ({out.name}: ...)`")
            else:
                self.report("E070", f"`{mod.name}` must return its outputs as a record, not `{t.render()}`",
                            stmt.value.span)
            return
        missing = []
        for out in mod.outputs:
            got = t.field(out.name)
            if got is None:
                if not isinstance(out.type, OptionalType):
                    missing.append(out.name)
                continue
            if not is_assignable(got.type, out.type):
                self.report("E070", f"output `{out.name}` of `{mod.name}` is `{out.type.render()}`, but this "
                            f"returns `{got.type.render()}`", stmt.value.span, hint=self.literal_hint(out.type))
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            have = ", ".join(f"`{f.name}`" for f in t.fields) or "nothing"
            self.report("E070", f"`{mod.name}` must return {names}; this value has {have}", stmt.value.span,
                        hint="return a record naming each output, e.g. `return (answer: pred.answer)`")
        if isinstance(stmt.value, ir.RecordExpr):
            declared = {o.name for o in mod.outputs}
            for f in stmt.value.fields:
                if f.name not in declared:
                    guess = suggest(f.name, list(declared))
                    self.report("E070", f"`{f.name}` is not an output of `{mod.name}`", f.span,
                                hint=f"did you mean `{guess}`?" if guess else None,
                                fixes=[Fix(f"Rename to `{guess}`", f.span, guess)] if guess else None)

    # ------------------------------------------------------------------ expressions

    def misspelt_return(self, e: ir.Expr, scope: Scope) -> bool:
        """`retrun (answer: x)` parses as a call of an unknown `retrun`: report the typo once, as a
        misspelt `return`, instead of an unknown name plus a missing return."""
        if not (isinstance(e, ir.Call) and isinstance(e.func, ir.Name)):
            return False
        name = e.func.id
        mod = self.module
        if name in scope.vars or (mod is not None and mod.predictor(name) is not None) or name in BUILTINS or \
                self.program.lookup(name) is not None or not _close_to(name, "return"):
            return False
        for a in e.args:
            self.expr(a, scope)
        for k in e.kwargs:
            self.expr(k.value, scope)
        self.report("E030", f"unknown name `{name}`", e.func.span, hint="did you mean `return`?",
                    fixes=[Fix("Change to `return`", e.func.span, "return")])
        return True

    def lost(self, name: str) -> bool:
        """Whether `name` may have been assigned on a line that syntax-error recovery dropped."""
        mod = self.module
        return mod is not None and mod.syntax_error and name in mod.assigned_in_text

    def damaged_record(self, t: RecordType) -> bool:
        """A record from a declaration with a syntax error (its fields may be incomplete)."""
        if t.name is None:
            return False
        decl = (self.program.signatures.get(t.name) or self.program.modules.get(t.name)
                or self.program.types.get(t.name))
        return decl is not None and decl.syntax_error

    def unknown_name(self, name: str, span: Span, scope: Scope) -> None:
        if self.lost(name) or name in self.program.unparsed_names:
            return
        candidates = list(scope.vars) + list(self.program.tools) + list(self.program.modules) + list(
            self.program.retrievers) + list(BUILTINS)
        if self.module is not None:
            candidates += [p.name for p in self.module.predictors]
        guess = suggest(name, candidates)
        self.report("E030", f"unknown name `{name}`", span, hint=f"did you mean `{guess}`?" if guess else None,
                    fixes=[Fix(f"Change to `{guess}`", span, guess)] if guess else None)

    def literal_hint(self, t: Type) -> str | None:
        t = strip_optional(t)
        if isinstance(t, LiteralType):
            return f"`{t.render()}` is one of: {t.render_members()}"
        return None

    def expr(self, e: ir.Expr, scope: Scope) -> Type:
        return self.typed(e, self._expr(e, scope))

    def _expr(self, e: ir.Expr, scope: Scope) -> Type:
        if isinstance(e, ir.Literal):
            v = e.value
            if isinstance(v, bool):
                return BOOL
            if isinstance(v, int):
                return INT
            if isinstance(v, float):
                return FLOAT
            if isinstance(v, str):
                return LiteralType((v,))
            return NONE
        if isinstance(e, ir.Name):
            return self.name(e, scope)
        if isinstance(e, ir.ListExpr):
            item: Type | None = None
            for x in e.items:
                t = self.expr(x, scope)
                item = t if item is None else join(item, t)
            return ListType(item if item is not None else ANY)
        if isinstance(e, ir.RecordExpr):
            return RecordType(tuple(RecordField(f.name, self.expr(f.value, scope)) for f in e.fields))
        if isinstance(e, ir.Attribute):
            return self.attribute(e, scope)
        if isinstance(e, ir.Index):
            obj = strip_optional(self.expr(e.obj, scope))
            idx = self.expr(e.index, scope)
            if isinstance(obj, ListType):
                if not is_assignable(idx, INT):
                    self.report("E061", f"list index must be `int`, not `{idx.render()}`", e.index.span)
                return obj.item
            if isinstance(obj, DictType):
                return obj.value
            if is_assignable(obj, STR):
                return STR
            if isinstance(obj, RecordType) and isinstance(e.index, ir.Literal) and isinstance(e.index.value, str):
                f = obj.field(e.index.value)
                if f is not None:
                    return f.type
            if not isinstance(obj, AnyType):
                self.report("E061", f"`{obj.render()}` cannot be indexed", e.span)
            return ANY
        if isinstance(e, ir.Call):
            return self.call(e, scope)
        if isinstance(e, ir.BinOp):
            return self.binop(e, scope)
        if isinstance(e, ir.Compare):
            self.compare(e, scope)
            return BOOL
        if isinstance(e, ir.BoolOp):
            self.expr(e.left, scope)
            self.expr(e.right, scope)
            return BOOL
        if isinstance(e, ir.Not):
            self.expr(e.operand, scope)
            return BOOL
        if isinstance(e, ir.Neg):
            t = self.expr(e.operand, scope)
            if t not in (INT, FLOAT) and not isinstance(t, AnyType):
                self.report("E061", f"cannot negate `{t.render()}`", e.span)
                return ANY
            return t
        return ANY

    def name(self, e: ir.Name, scope: Scope) -> Type:
        var = scope.vars.get(e.id)
        if var is not None:
            var.used = True
            if e.id not in scope.assigned and not self.lost(e.id):
                self.report("E031", f"`{e.id}` may be used before it is assigned", e.span,
                            hint="assign it on every path before this line",
                            related=[Related(var.span, "assigned here", self.program.path)])
            return var.type
        if self.module is not None and self.module.predictor(e.id) is not None:
            self.report("E091", f"`{e.id}` is a predictor: call it with its inputs", e.span,
                        hint=f"e.g. `{e.id}(field: value)`")
            return ANY
        if e.id in self.program.tools or e.id in self.program.modules or e.id in self.program.retrievers:
            self.report("E091", f"`{e.id}` is a function here: call it", e.span)
            return ANY
        if e.id in self.program.signatures:
            self.report("E091", f"`{e.id}` is a signature; declare a predictor for it with `let`", e.span)
            return ANY
        if e.id in self.program.tool_servers:
            self.report("E091", f"`{e.id}` is a tool server: call one of its tools", e.span,
                        hint=f"e.g. `{e.id}.tool_name(arg: value)`, or give `{e.id}` to ReAct's `tools`")
            return ANY
        self.unknown_name(e.id, e.span, scope)
        return ANY

    def attribute(self, e: ir.Attribute, scope: Scope) -> Type:
        obj_t = self.expr(e.obj, scope)
        obj = strip_optional(obj_t)
        if isinstance(obj, AnyType):
            return ANY
        if isinstance(obj, RecordType):
            f = obj.field(e.name)
            if f is not None:
                return f.type
            if self.damaged_record(obj):
                return ANY
            names = [x.name for x in obj.fields]
            guess = suggest(e.name, names)
            what = f"`{e.obj.id}` ({obj.name})" if isinstance(e.obj, ir.Name) and obj.name else (
                f"`{e.obj.id}`" if isinstance(e.obj, ir.Name) else f"`{obj.name}`" if obj.name else "this value")
            self.report("E050", f"{what} has no field `{e.name}`", e.name_span,
                        hint=f"did you mean `{guess}`?" if guess else "fields: " + (", ".join(names) or "none"),
                        fixes=[Fix(f"Change to `{guess}`", e.name_span, guess)] if guess else None)
            return ANY
        self.report("E051", f"`{obj.render()}` has no fields (`.{e.name}`)", e.name_span)
        return ANY

    def binop(self, e: ir.BinOp, scope: Scope) -> Type:
        lt = self.expr(e.left, scope)
        rt = self.expr(e.right, scope)
        if isinstance(lt, AnyType) or isinstance(rt, AnyType):
            return ANY
        num = (INT, FLOAT)
        if lt in num and rt in num:
            if e.op == "/" or FLOAT in (lt, rt):
                return FLOAT
            return INT
        if e.op == "+":
            if is_assignable(lt, STR) and is_assignable(rt, STR):
                return STR
            if isinstance(lt, ListType) and isinstance(rt, ListType):
                return ListType(join(lt.item, rt.item))
        self.report("E061", f"cannot apply `{e.op}` to `{lt.render()}` and `{rt.render()}`", e.span,
                    hint="use str(x) to turn a value into text" if e.op == "+" else None)
        return ANY

    def compare(self, e: ir.Compare, scope: Scope) -> None:
        lt = self.expr(e.left, scope)
        rt = self.expr(e.right, scope)
        if e.op in ("==", "!="):
            self.check_member(lt, e.right)
            self.check_member(rt, e.left)
            l0, r0 = strip_optional(lt), strip_optional(rt)
            if not (is_assignable(l0, r0) or is_assignable(r0, l0) or _both_text(l0, r0)
                    or NONE in (lt, rt)):
                self.report("E061", f"comparing `{lt.render()}` with `{rt.render()}` is always "
                            f"{'false' if e.op == '==' else 'true'}", e.span)
        elif e.op in ("in", "not in", "contains"):
            # `a contains b` is `b in a`.
            item_e, item_t, box_e, box_t = (e.right, rt, e.left, lt) if e.op == "contains" else (e.left, lt, e.right, rt)
            container = strip_optional(box_t)
            if isinstance(container, ListType):
                self.check_member(container.item, item_e)
                # `r.topic in ["sports", "sprots"]`: each listed string must be a member of the union.
                if isinstance(box_e, ir.ListExpr):
                    for item in box_e.items:
                        self.check_member(item_t, item)
            elif not (is_assignable(container, STR) or isinstance(container, (DictType, AnyType))):
                self.report("E061", f"`{box_t.render()}` is not a list, dict or string", box_e.span)
        else:
            ok = (lt in (INT, FLOAT) and rt in (INT, FLOAT)) or (is_assignable(lt, STR) and is_assignable(rt, STR))
            if not ok and not isinstance(lt, AnyType) and not isinstance(rt, AnyType):
                self.report("E061", f"cannot order `{lt.render()}` and `{rt.render()}` with `{e.op}`", e.span)

    def check_member(self, t: Type, other: ir.Expr) -> None:
        """`choice.tool == "irelevant"`: a string that is not a member of the union is a bug."""
        t = strip_optional(t)
        if not isinstance(t, LiteralType) or t.name is None and len(t.members) == 1:
            return
        if isinstance(other, ir.Literal) and isinstance(other.value, str) and other.value not in t.members:
            guess = suggest(other.value, list(t.members))
            self.report("E060", f"\"{other.value}\" is not a member of `{t.render()}`", other.span,
                        hint=(f'did you mean "{guess}"? ' if guess else "") + f"members: {t.render_members()}",
                        fixes=[Fix(f'Change to "{guess}"', other.span, f'"{guess}"')] if guess else None)

    # ------------------------------------------------------------------ calls

    def call(self, e: ir.Call, scope: Scope) -> Type:
        func = e.func
        if isinstance(func, ir.Attribute):
            served = call_server_tool(self, e, scope)
            if served is not None:
                return served
        if not isinstance(func, ir.Name):
            self.expr(func, scope)
            for a in e.args:
                self.expr(a, scope)
            for k in e.kwargs:
                self.expr(k.value, scope)
            self.report("E091", "only predictors, tools, retrievers, modules and built-ins can be called",
                        func.span, hint="methods are not supported; use a tool for custom Python")
            return ANY
        name = func.id
        mod = self.module
        if name in scope.vars:
            scope.vars[name].used = True
            self.report("E091", f"`{name}` is a variable, not something to call", func.span)
            return ANY
        pred = mod.predictor(name) if mod is not None else None
        if pred is not None:
            self.used_predictors.add(name)
            return self.call_predictor(e, pred, scope)
        if name in self.program.tools:
            tool = self.program.tools[name]
            self.call_params(e, name, tool.params, scope)
            return tool.returns
        if name in self.program.retrievers:
            params = [ir.Param("query", STR), ir.Param("k", INT, ir.Literal(3))]
            self.call_params(e, name, params, scope)
            return ListType(STR)
        if name in self.program.modules:
            target = self.program.modules[name]
            self.call_params(e, name, target.params, scope)
            if target.is_metric:
                return target.returns or FLOAT
            return RecordType(tuple(RecordField(f.name, f.type, f.description) for f in target.outputs), name)
        if name in SPECIAL_BUILTINS:  # parallel(fn, items): its first argument names a callee
            return SPECIAL_BUILTINS[name](self, e, scope)
        if name in BUILTINS:
            b = BUILTINS[name]
            arg_types = [self.expr(a, scope) for a in e.args]
            for k in e.kwargs:
                self.expr(k.value, scope)
                if k.name not in b.kwargs:
                    self.report("E092", f"`{name}` has no argument `{k.name}`", k.span)
            if not (b.min_args <= len(e.args) <= b.max_args):
                want = str(b.min_args) if b.min_args == b.max_args else f"{b.min_args} to {b.max_args}"
                self.report("E092", f"`{name}` takes {want} argument(s), got {len(e.args)}", e.span, hint=b.doc)
                return ANY
            if name == "range":
                for a, t in zip(e.args, arg_types, strict=False):
                    if not is_assignable(t, INT):
                        self.report("E092", f"`range` takes integers, not `{t.render()}`", a.span)
            return b.result(arg_types)
        for a in e.args:
            self.expr(a, scope)
        for k in e.kwargs:
            self.expr(k.value, scope)
        if name in ir.PREDICTOR_KINDS:
            self.report("E045", f"declare predictors with `let`: `let p = {name}(...)`", e.span)
            return ANY
        if name in self.program.signatures:
            self.report("E091", f"`{name}` is a signature; declare a predictor for it with `let`", func.span,
                        hint=f"`let p = Predict({name})`, then `p(...)`")
            return ANY
        self.unknown_name(name, func.span, scope)
        return ANY

    def call_predictor(self, e: ir.Call, pred: ir.Predictor, scope: Scope) -> Type:
        sig = pred.signature
        for a in e.args:
            self.expr(a, scope)
        for k in e.kwargs:
            self.expr(k.value, scope)
        if sig is None:
            return ANY
        if sig.syntax_error:
            return prediction_type(pred)  # its inputs may be the ones recovery dropped
        inputs = {f.name: f for f in sig.inputs}
        if e.args:
            hint = "name each input, e.g. `" + pred.name + "(" + ", ".join(f"{n}: ..." for n in inputs) + ")`"
            fixes = []
            if len(e.args) <= len(sig.inputs) and all(isinstance(a, ir.Name) for a in e.args):
                names = [f.name for f in sig.inputs]
                for a, fname in zip(e.args, names, strict=False):
                    fixes.append(Fix(f"Name the input `{fname}`", a.span, f"{fname}: {a.id}"))  # type: ignore[attr-defined]
            self.report("E043", f"predictor inputs are passed by name ({len(e.args)} positional)", e.args[0].span,
                        hint=hint, fixes=fixes)
            return prediction_type(pred)
        given = set()
        for k in e.kwargs:
            given.add(k.name)
            f = inputs.get(k.name)
            if f is None:
                # A misspelt input is one mistake: report the unknown name, not also the missing one.
                typo_of = suggest(k.name, [n for n in inputs if n not in {x.name for x in e.kwargs}])
                if typo_of:
                    given.add(typo_of)
                guess = suggest(k.name, [n for n in inputs if n not in {x.name for x in e.kwargs}] or list(inputs))
                is_output = any(o.name == k.name for o in sig.outputs)
                self.report("E041", f"`{sig.name}` has no input `{k.name}`" + (" (it is an output)" if is_output else ""),
                            k.span, hint=f"did you mean `{guess}`?" if guess else "inputs: " + ", ".join(inputs),
                            fixes=[Fix(f"Change to `{guess}`", k.span, guess)] if guess else None)
                continue
            t = self.program.type_of(k.value)
            if not is_assignable(t, f.type):
                self.report("E042", f"input `{k.name}` of `{sig.name}` is `{f.type.render()}`, got `{t.render()}`",
                            k.value.span, hint=self.literal_hint(f.type) or _conversion_hint(t, f.type))
        missing = [f for f in sig.inputs if f.name not in given and f.default is None
                   and not isinstance(f.type, OptionalType)]
        if missing:
            names = ", ".join(f"`{f.name}`" for f in missing)
            insert_at = Span(e.span.end - 1, e.span.end - 1, e.span.end_line, e.span.end_col - 1, e.span.end_line,
                             e.span.end_col - 1)
            sep = ", " if e.kwargs else ""
            text = sep + ", ".join(f"{f.name}: {f.name}" for f in missing)
            self.report("E040", f"`{pred.name}` is missing input {names} of `{sig.name}`", e.span,
                        hint="pass every input field of the signature by name",
                        fixes=[Fix("Add the missing input(s)", insert_at, text)],
                        related=[Related(f.span, f"`{f.name}: {f.type.render()}` declared here", sig.path)
                                 for f in missing if sig.path])
        return prediction_type(pred)

    def call_params(self, e: ir.Call, name: str, params: list[ir.Param], scope: Scope) -> None:
        arg_types = [self.expr(a, scope) for a in e.args]
        for k in e.kwargs:
            self.expr(k.value, scope)
        code = "E090"
        if len(e.args) > len(params):
            self.report(code, f"`{name}` takes at most {len(params)} argument(s), got {len(e.args)}",
                        e.args[len(params)].span)
        bound: dict[str, tuple[ir.Expr, Type]] = {}
        for p, a, t in zip(params, e.args, arg_types, strict=False):
            bound[p.name] = (a, t)
        by_name = {p.name: p for p in params}
        for k in e.kwargs:
            if k.name not in by_name:
                guess = suggest(k.name, list(by_name))
                self.report(code, f"`{name}` has no parameter `{k.name}`", k.span,
                            hint=f"did you mean `{guess}`?" if guess else "parameters: " + ", ".join(by_name),
                            fixes=[Fix(f"Change to `{guess}`", k.span, guess)] if guess else None)
                continue
            if k.name in bound:
                self.report(code, f"`{k.name}` is given twice", k.span)
                continue
            bound[k.name] = (k.value, self.program.type_of(k.value))
        for p in params:
            if p.name not in bound:
                if p.default is None and not isinstance(p.type, OptionalType):
                    self.report(code, f"`{name}` is missing argument `{p.name}` ({p.type.render()})", e.span)
                continue
            value, t = bound[p.name]
            if not is_assignable(t, p.type):
                self.report(code, f"argument `{p.name}` of `{name}` is `{p.type.render()}`, got `{t.render()}`",
                            value.span, hint=self.literal_hint(p.type) or _conversion_hint(t, p.type))


def _close_to(word: str, keyword: str) -> bool:
    import difflib

    return word != keyword and difflib.SequenceMatcher(None, word, keyword).ratio() >= 0.75


def _both_text(a: Type, b: Type) -> bool:
    return is_assignable(a, STR) and is_assignable(b, STR)


def _conversion_hint(got: Type, want: Type) -> str | None:
    if isinstance(strip_optional(want), MediaType) and is_assignable(got, STR):
        return "make an Image from text with image(...): a path, an http(s) URL or a data: URI"
    if want == STR and isinstance(got, ListType):
        return "join the list into text with join(items, \"\\n\")"
    if isinstance(want, ListType) and is_assignable(got, want.item):
        return "wrap the value in a list: [value]"
    if want == STR:
        return "convert it with str(...)"
    return None


from lmp.checker.media import check_image_call, check_media_outputs  # noqa: E402 - they type with Checker
from lmp.checker.parallel import check_parallel  # noqa: E402
from lmp.checker.tool_servers import call_server_tool, check_tool_server, server_tool_ref  # noqa: E402

SPECIAL_BUILTINS = {"parallel": check_parallel, "image": check_image_call}


def check_program(program: ir.Program) -> list[Diagnostic]:
    """Check one file's own declarations (imports are checked in their own files)."""
    program.expr_types.clear()
    with gc_paused():  # types and diagnostics are acyclic; collections during the walk only cost time
        return Checker(program).run() + check_secrets(program)
