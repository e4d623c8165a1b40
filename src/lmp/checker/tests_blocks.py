"""Checking `test` blocks: the target exists, the inputs fit its parameters, the expectations are
true-or-false expressions over its outputs (E140-E145, W140; docs/diagnostics.md).

Expectations are typed by the checker's own expression rules, in a scope holding the target's outputs,
`result`, `example` and `latency_ms` (what lmp.runtime.testing binds at run time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmp.diagnostics import Fix, Severity, suggest
from lmp.ir import nodes as ir
from lmp.ir.builtins import BUILTINS
from lmp.ir.lower import constant
from lmp.ir.lower_tests import SPECIAL_NAMES, equality_labels
from lmp.ir.types import (
    ANY,
    BOOL,
    FLOAT,
    AnyType,
    LiteralType,
    RecordField,
    RecordType,
    Type,
    is_assignable,
    strip_optional,
)
from lmp.ir.walk import children

if TYPE_CHECKING:
    from lmp.checker.checker import Checker


def check_test(checker: Checker, test: ir.TestBlock) -> None:
    from lmp.checker.checker import Scope, Var

    program = checker.program
    mod = program.modules.get(test.target)
    sig = program.signatures.get(test.target)
    if mod is not None and mod.is_metric:
        checker.report("E140", f"`{test.target}` is a metric; a test runs a module or a signature", test.target_span,
                       hint="test the module the metric scores, and call the metric in an expectation: "
                       f"`check {test.target}(example, result)`")
        return
    if mod is None and sig is None:
        if test.target in program.unparsed_names:
            return
        known = [n for n, m in program.modules.items() if not m.is_metric] + list(program.signatures)
        guess = suggest(test.target, known)
        checker.report("E140", f"`{test.target}` is not a module or signature", test.target_span,
                       hint=f"did you mean `{guess}`?" if guess else "a test runs a module or a signature: "
                       + (", ".join(known) or "declare one first"),
                       fixes=[Fix(f"Change to `{guess}`", test.target_span, guess)] if guess else None)
        return
    # name -> (type, required)
    if mod is not None:
        inputs = {p.name: (p.type, p.default is None) for p in mod.params}
        outputs = {f.name: f.type for f in mod.outputs}
        damaged = mod.syntax_error
    else:
        assert sig is not None
        inputs = {f.name: (f.type, f.default is None) for f in sig.inputs}
        outputs = {f.name: f.type for f in sig.outputs}
        damaged = sig.syntax_error
    given: set[str] = set()
    values: dict[str, Type] = {}
    for kv in test.inputs:
        given.add(kv.name)
        if kv.name not in inputs:
            if damaged:
                continue
            if kv.name in outputs:
                checker.report("E141", f"`{kv.name}` is an output of `{test.target}`, not an input", kv.span,
                               hint=f"state what it should be as an expectation: `expect {kv.name} == ...`")
                continue
            guess = suggest(kv.name, list(inputs))
            if guess:
                given.add(guess)
            checker.report("E141", f"`{test.target}` has no input `{kv.name}`", kv.span,
                           hint=f"did you mean `{guess}`?" if guess else "inputs: " + (", ".join(inputs) or "none"),
                           fixes=[Fix(f"Rename to `{guess}`", kv.span, guess)] if guess else None)
            continue
        expected = inputs[kv.name][0]
        try:
            constant(kv.value)
        except ValueError:
            checker.report("E143", "test inputs must be constants", kv.value.span,
                           hint="write the value itself: a string, number, true/false, none, a list or a record")
            continue
        t = checker.expr(kv.value, Scope({}))
        values[kv.name] = t
        _check_value(checker, kv, t, expected)
    missing = [n for n, (_, required) in inputs.items() if required and n not in given]
    if missing and not test.syntax_error and not damaged:
        checker.report("E142", f"test `{test.name}` gives no value for " + ", ".join(f"`{m}`" for m in missing)
                       + f" of `{test.target}`", test.name_span,
                       hint="add a line per input, e.g. " + f"`{missing[0]}: ...`")
    scope = Scope({})
    out_record = RecordType(tuple(RecordField(n, t) for n, t in outputs.items()), None)
    labels = equality_labels(test, list(outputs))
    example = RecordType(tuple([RecordField(n, inputs[n][0]) for n in values if n in inputs]
                               + [RecordField(n, outputs[n]) for n in labels]), None)
    bound: dict[str, Type] = {"result": out_record, "example": example, "latency_ms": FLOAT}
    bound.update(outputs)  # an output named like a special name wins
    for name, t in bound.items():
        scope.vars[name] = Var(name, t, test.target_span, used=True)
        scope.assigned.add(name)
    for e in test.expectations:
        _unknown_names(checker, test, e.expr, scope, list(outputs), damaged)
        t = checker.expr(e.expr, scope)
        if not is_assignable(t, BOOL) and not isinstance(t, AnyType):
            hint = ("compare it, e.g. `" + e.kind + " ... >= 0.5`" if t in (FLOAT,) or t.render() in ("int", "float")
                    else "compare it with a value, e.g. `== \"...\"`")
            checker.report("E144", f"`{e.kind}` needs true or false; this is `{t.render()}`", e.expr.span, hint=hint)
    if not test.expectations and not test.syntax_error:
        checker.report("W140", f"test `{test.name}` has no `expect` or `check`", test.name_span,
                       severity=Severity.WARNING,
                       hint="it only checks that the run succeeds; add e.g. `expect "
                       + (next(iter(outputs), "field") + " == ...`"))


def _check_value(checker: Checker, kv: ir.KwArg, t: Type, expected: Type) -> None:
    lit = strip_optional(expected)
    if (isinstance(lit, LiteralType) and isinstance(kv.value, ir.Literal) and isinstance(kv.value.value, str)
            and kv.value.value not in lit.members):
        guess = suggest(kv.value.value, list(lit.members))
        checker.report("E143", f"\"{kv.value.value}\" is not a member of `{expected.render()}`", kv.value.span,
                       hint=(f'did you mean "{guess}"? ' if guess else "") + f"members: {lit.render_members()}",
                       fixes=[Fix(f'Change to "{guess}"', kv.value.span, f'"{guess}"')] if guess else None)
        return
    if not is_assignable(t, expected):
        from lmp.checker.checker import widen

        checker.report("E143", f"input `{kv.name}` is `{expected.render()}`, but the test gives `{widen(t).render()}`",
                       kv.value.span, hint=checker.literal_hint(expected))


def _names(expr: ir.Expr) -> list[ir.Name]:
    """Names used as values (not the function of a call: `exact(...)` is looked up as a callee)."""
    out: list[ir.Name] = []
    stack: list[ir.Expr] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, ir.Name):
            out.append(e)
        elif isinstance(e, ir.Call) and isinstance(e.func, ir.Name):
            stack.extend(children(e)[1:])
        else:
            stack.extend(children(e))
    return out


def _unknown_names(checker: Checker, test: ir.TestBlock, expr: ir.Expr, scope: object, outputs: list[str],
                   damaged: bool) -> None:
    """A name that is neither bound nor something of the program: most likely a misspelt output (E145).
    It is then bound as `any`, so the checker does not report it again as E030."""
    from lmp.checker.checker import Var

    program = checker.program
    vars_ = scope.vars  # type: ignore[attr-defined]
    for n in _names(expr):
        if n.id in vars_ or n.id in program.modules or n.id in program.tools or n.id in program.retrievers \
                or n.id in BUILTINS or n.id in program.signatures or n.id in program.tool_servers:
            continue
        if not damaged and n.id not in program.unparsed_names:
            guess = suggest(n.id, outputs + [s for s in SPECIAL_NAMES if s not in outputs])
            checker.report("E145", f"`{n.id}` is not an output of `{test.target}`", n.span,
                           hint=f"did you mean `{guess}`?" if guess else "outputs: " + (", ".join(outputs) or "none")
                           + "; also `result`, `example`, `latency_ms`",
                           fixes=[Fix(f"Change to `{guess}`", n.span, guess)] if guess else None)
        vars_[n.id] = Var(n.id, ANY, n.span, used=True)
        scope.assigned.add(n.id)  # type: ignore[attr-defined]
