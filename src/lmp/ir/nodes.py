"""IR nodes: declarations, statements and expressions, each with its source span.

Lowering fills these from the syntax tree; the checker records expression types in
`Program.expr_types`; the interpreter, optimizer and language server read them as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from lmp.diagnostics import NO_SPAN, Span
from lmp.ir.types import ANY, RecordField, RecordType, Type, dataclass_repr


class Node:
    """Base of the IR's node classes. They are dataclasses with eq=False (a node is its identity:
    `Program.expr_types` keys on id()) and repr=False, all sharing one repr (see `dataclass_repr`)."""

    __repr__ = dataclass_repr


# ---------------------------------------------------------------- expressions


@dataclass(eq=False, repr=False)
class Expr(Node):
    """Base of expressions; `span` covers the whole expression."""

    span: Span = field(default=NO_SPAN, kw_only=True)


@dataclass(eq=False, repr=False)
class Name(Expr):
    """A name: a variable, parameter, predictor, tool or declaration."""

    id: str


@dataclass(eq=False, repr=False)
class Literal(Expr):
    """A constant: str, int, float, bool or None."""

    value: Any


@dataclass(eq=False, repr=False)
class ListExpr(Expr):
    """`[a, b, c]`."""

    items: list[Expr]


@dataclass(eq=False, repr=False)
class KwArg(Node):
    """`name: value` in a call, a record, an example or a test."""

    name: str
    value: Expr
    span: Span = NO_SPAN  # the name's span


@dataclass(eq=False, repr=False)
class RecordExpr(Expr):
    """`(answer: "...", confidence: 0.5)`: a record value, e.g. a module's return."""

    fields: list[KwArg]


@dataclass(eq=False, repr=False)
class Attribute(Expr):
    """`obj.name`: a field of a record, or a tool of a server."""

    obj: Expr
    name: str
    name_span: Span = NO_SPAN


@dataclass(eq=False, repr=False)
class Index(Expr):
    """`obj[index]`."""

    obj: Expr
    index: Expr


@dataclass(eq=False, repr=False)
class Call(Expr):
    """`func(args, name: value)`: a predictor, module, tool, retriever or builtin."""

    func: Expr
    args: list[Expr]
    kwargs: list[KwArg]


@dataclass(eq=False, repr=False)
class BinOp(Expr):
    """`left op right` with `+ - * / %`."""

    op: str  # + - * / %
    left: Expr
    right: Expr


@dataclass(eq=False, repr=False)
class Compare(Expr):
    """A comparison; its value is a bool."""

    op: str  # == != < <= > >= in "not in" contains
    left: Expr
    right: Expr


@dataclass(eq=False, repr=False)
class BoolOp(Expr):
    """`left and right` / `left or right`."""

    op: str  # and | or
    left: Expr
    right: Expr


@dataclass(eq=False, repr=False)
class Not(Expr):
    """`not operand`."""

    operand: Expr


@dataclass(eq=False, repr=False)
class Neg(Expr):
    """`-operand`."""

    operand: Expr


# ---------------------------------------------------------------- statements


@dataclass(eq=False, repr=False)
class Stmt(Node):
    """Base of statements; `span` covers the whole statement."""

    span: Span = field(default=NO_SPAN, kw_only=True)


@dataclass(eq=False, repr=False)
class Assign(Stmt):
    """`target = value` or `target: annotation = value`."""

    target: str
    value: Expr
    annotation: Type | None = None
    target_span: Span = NO_SPAN
    annotation_span: Span | None = None


@dataclass(eq=False, repr=False)
class AugAssign(Stmt):
    """`target += value`: append to a list, add numbers, concatenate strings."""

    target: str
    op: str  # "+="
    value: Expr
    target_span: Span = NO_SPAN


@dataclass(eq=False, repr=False)
class For(Stmt):
    """`for var in iter { body }`."""

    var: str
    iter: Expr
    body: list[Stmt]
    var_span: Span = NO_SPAN


@dataclass(eq=False, repr=False)
class IfBranch(Node):
    """One `if` or `elif` condition with its body."""

    cond: Expr
    body: list[Stmt]
    span: Span = NO_SPAN


@dataclass(eq=False, repr=False)
class If(Stmt):
    """`if` / `elif` branches and an optional `else` body."""

    branches: list[IfBranch]
    orelse: list[Stmt] | None = None
    else_span: Span | None = None


@dataclass(eq=False, repr=False)
class Return(Stmt):
    """`return value`."""

    value: Expr | None


@dataclass(eq=False, repr=False)
class ExprStmt(Stmt):
    """An expression on its own line (its value is dropped)."""

    expr: Expr


@dataclass(eq=False, repr=False)
class LetStmt(Stmt):
    """Marks where a predictor was declared; the predictor itself lives in `Module.predictors`."""

    predictor: Predictor


# ---------------------------------------------------------------- declarations


@dataclass(eq=False, repr=False)
class Field(Node):
    """A signature's `in` or `out` field, or a module's declared output."""

    name: str
    type: Type
    description: str | None = None
    role: str = "in"  # in | out
    span: Span = NO_SPAN  # the name
    type_span: Span = NO_SPAN
    default: Expr | None = None


@dataclass(eq=False, repr=False)
class Decl(Node):
    """Base of top-level declarations (and of predictors, declared inside modules)."""

    name: str
    span: Span = field(default=NO_SPAN, kw_only=True)  # whole declaration
    name_span: Span = field(default=NO_SPAN, kw_only=True)
    path: str | None = field(default=None, kw_only=True)  # file that declares it
    # The declaration holds a syntax error (recovered): what it lacks is a consequence of that error,
    # so the checker does not report it again as missing returns, unused predictors or unknown fields.
    syntax_error: bool = field(default=False, kw_only=True)


@dataclass(eq=False, repr=False)
class TypeDecl(Decl):
    """`type Name = ...`."""

    type: Type = ANY
    type_span: Span = field(default=NO_SPAN, kw_only=True)
    # Member spans of a literal union (for completion / go to definition of members).
    member_spans: dict[str, Span] = field(default_factory=dict, kw_only=True)


@dataclass(eq=False, repr=False)
class Signature(Decl):
    """`signature Name { in ... out ... }`, `signature Name = "a, b -> c"`, or a predictor's inline
    string (`inline`)."""

    inputs: list[Field] = field(default_factory=list)
    outputs: list[Field] = field(default_factory=list)
    instructions: str | None = None
    inline: bool = False  # written as "a, b -> c"
    instructions_span: Span | None = field(default=None, kw_only=True)

    def field(self, name: str) -> Field | None:
        for f in (*self.inputs, *self.outputs):
            if f.name == name:
                return f
        return None

    def output_record(self) -> RecordType:
        return RecordType(tuple(RecordField(f.name, f.type, f.description) for f in self.outputs), None)

    def default_instructions(self) -> str:
        ins = ", ".join(f"`{f.name}`" for f in self.inputs)
        outs = ", ".join(f"`{f.name}`" for f in self.outputs)
        return f"Given the fields {ins}, produce the fields {outs}."

    def effective_instructions(self) -> str:
        return self.instructions if self.instructions else self.default_instructions()


PREDICTOR_KINDS = ("Predict", "ChainOfThought", "ReAct", "Refine", "BestOfN")


@dataclass(eq=False, repr=False)
class Predictor(Decl):
    """`let name = Kind(Signature, options...) [using role]` inside a module or metric.

    `id` ("Module.name") is stable: optimizers and state files key on it.
    `signature` is the signature as the adapter sees it (ChainOfThought's `reasoning` output
    is added by the runtime, not here, so that the user's outputs stay as declared).
    """

    id: str = ""
    kind: str = "Predict"
    signature: Signature | None = None
    signature_ref: str | None = None  # name used in the source, None for inline strings
    signature_span: Span = field(default=NO_SPAN, kw_only=True)
    options: list[KwArg] = field(default_factory=list)
    model_role: str | None = None
    model_role_span: Span | None = field(default=None, kw_only=True)
    owner: str = ""


@dataclass(eq=False, repr=False)
class Param(Node):
    """A parameter of a module, metric or tool."""

    name: str
    type: Type
    default: Expr | None = None
    span: Span = NO_SPAN
    type_span: Span | None = None
    annotated: bool = True


@dataclass(eq=False, repr=False)
class Module(Decl):
    """A module or a metric: parameters, declared outputs, predictors and a body."""

    params: list[Param] = field(default_factory=list)
    outputs: list[Field] = field(default_factory=list)
    predictors: list[Predictor] = field(default_factory=list)
    body: list[Stmt] = field(default_factory=list)
    is_metric: bool = False
    returns: Type | None = None  # metrics: declared return type (bool | float)
    returns_span: Span | None = field(default=None, kw_only=True)
    # With a syntax error: names the body's text assigns (a line dropped by recovery may have
    # assigned them), so that their uses are not reported as unknown.
    assigned_in_text: frozenset[str] = field(default=frozenset(), kw_only=True)

    def output_record(self) -> RecordType:
        return RecordType(tuple(RecordField(f.name, f.type, f.description) for f in self.outputs), None)

    def predictor(self, name: str) -> Predictor | None:
        for p in self.predictors:
            if p.name == name:
                return p
        return None


@dataclass(eq=False, repr=False)
class Tool(Decl):
    """`tool name(params) -> type = "package.module:function"`."""

    params: list[Param] = field(default_factory=list)
    returns: Type = ANY
    target: str = ""  # "package.module:function"
    target_span: Span = field(default=NO_SPAN, kw_only=True)
    description: str | None = None


@dataclass(eq=False, repr=False)
class ToolServer(Decl):
    """`tool Files = mcp("python server.py --root .")`: the tools of an MCP server over stdio. Their
    names and types come from the manifest beside the declaring file (`lmp.ir.mcp_manifest`), never
    from starting the server; `tools` is filled from it on first use (None: no usable manifest)."""

    command: str = ""
    command_span: Span = field(default=NO_SPAN, kw_only=True)
    cwd: str | None = None  # relative to the declaring file's folder (default: that folder)
    env: list[str] = field(default_factory=list)  # environment variables passed on to the server
    timeout: float | None = None  # seconds per tool call
    tools: dict[str, Tool] | None = field(default=None, kw_only=True)
    loaded: bool = field(default=False, kw_only=True)  # the manifest was read (tools may still be None)


@dataclass(eq=False, repr=False)
class Retriever(Decl):
    """`retriever docs = bm25("docs/*.md", k: 3)` or `retriever vs = "pkg.mod:search"`."""

    kind: str = "bm25"  # bm25 | python
    args: list[Expr] = field(default_factory=list)
    kwargs: list[KwArg] = field(default_factory=list)
    target: str | None = None


@dataclass(eq=False, repr=False)
class ModelDecl(Decl):
    """`model judge = "openai/gpt-4o" { temperature: 0.0 }`: a named model role."""

    model: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model_span: Span = field(default=NO_SPAN, kw_only=True)
    param_spans: dict[str, Span] = field(default_factory=dict, kw_only=True)  # setting -> its value


@dataclass(eq=False, repr=False)
class Example(Decl):
    """`example Target [as name] { field: value ... }`: inputs (and gold outputs) for a target."""

    target: str = ""
    target_span: Span = field(default=NO_SPAN, kw_only=True)
    values: list[KwArg] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class Expectation(Node):
    """One line of a test: `expect EXPR` (hard: a false value fails the test) or `check EXPR` (soft:
    reported, never fails it)."""

    kind: str  # "expect" | "check"
    expr: Expr
    span: Span = NO_SPAN  # the whole line, keyword included

    @property
    def hard(self) -> bool:
        return self.kind == "expect"


@dataclass(eq=False, repr=False)
class TestBlock(Decl):
    """`test NAME for TARGET { field: value ... expect EXPR ... check EXPR }`: inputs for a module or a
    signature and expectations over its typed outputs (lmp.runtime.testing runs it)."""

    __test__ = False  # not a pytest test class

    target: str = ""
    target_span: Span = field(default=NO_SPAN, kw_only=True)
    inputs: list[KwArg] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class Import(Decl):
    """`import "other.lmp"`: `name` holds the path as written."""

    resolved: str | None = None


@dataclass(eq=False, repr=False)
class Comment(Node):
    """A source comment (kept for the formatter)."""

    text: str
    span: Span


class EntryPointError(ValueError):
    """No module can be chosen to run (none declared, or several and none named)."""

    user_facing = True


@dataclass(eq=False, repr=False)
class Program(Node):
    """Everything declared in one file (plus, after `project.load`, what its imports bring)."""

    path: str
    text: str
    types: dict[str, TypeDecl] = field(default_factory=dict)
    signatures: dict[str, Signature] = field(default_factory=dict)
    modules: dict[str, Module] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    retrievers: dict[str, Retriever] = field(default_factory=dict)
    tool_servers: dict[str, ToolServer] = field(default_factory=dict)
    models: dict[str, ModelDecl] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    tests: list[TestBlock] = field(default_factory=list)  # this file's, in source order
    imports: list[Import] = field(default_factory=list)
    decls: list[Decl] = field(default_factory=list)  # in source order, this file only
    comments: list[Comment] = field(default_factory=list)
    # Filled by the checker: type of each expression (by id), for hover and the interpreter.
    expr_types: dict[int, Type] = field(default_factory=dict)
    imported: list[Program] = field(default_factory=list)
    # Declarations a syntax error removed whole (names only): their uses are not "unknown" as well.
    unparsed_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def metrics(self) -> dict[str, Module]:
        return {n: m for n, m in self.modules.items() if m.is_metric}

    def entry_module(self, name: str | None) -> str:
        """The module a command runs: the one named, else this file's only module (not a metric)."""
        if name:
            return name
        modules = [n for n, m in self.modules.items() if not m.is_metric and m.path == self.path]
        if len(modules) == 1:
            return modules[0]
        if not modules:
            raise EntryPointError(f"{self.path} declares no module to run")
        raise EntryPointError(f"{os.path.basename(self.path)} has several modules; name one: {', '.join(modules)}")

    def predictors(self) -> dict[str, Predictor]:
        """Every predictor of every module and metric, by stable id."""
        out: dict[str, Predictor] = {}
        for m in self.modules.values():
            for p in m.predictors:
                out[p.id] = p
        return out

    def lookup(self, name: str) -> Decl | None:
        for table in (self.types, self.signatures, self.modules, self.tools, self.retrievers, self.tool_servers,
                      self.models):
            if name in table:
                return table[name]  # type: ignore[return-value]
        return None

    def type_of(self, expr: Expr) -> Type:
        return self.expr_types.get(id(expr), ANY)
