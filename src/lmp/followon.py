"""One error per unfinished statement: the checker's findings inside a statement that has a syntax
error are consequences of it, not news.

While a line is being typed (`x = f(`, `y = r.`) recovery repairs or drops it, and whatever the checker
then says about the repaired text (an unknown name, a missing input, a wrong type) describes text the
user has not finished writing. Such diagnostics are dropped: those starting on a line that holds a syntax
error, and those inside the (simple) statement the error is in. Syntax errors themselves, import errors
and everything elsewhere in the file are kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from lmp.diagnostics import Diagnostic, Span
from lmp.ir import nodes as ir

_SYNTAX = ("E001", "E002", "E003")
_KEPT = _SYNTAX + ("E100", "E101", "E102")  # imports: about the file, not the statement


def _simple_statements(body: Iterable[ir.Stmt]) -> Iterable[ir.Stmt]:
    for s in body:
        if isinstance(s, ir.If):
            for b in s.branches:
                yield from _simple_statements(b.body)
            if s.orelse:
                yield from _simple_statements(s.orelse)
        elif isinstance(s, ir.For):
            yield from _simple_statements(s.body)
        else:
            yield s


def _statement_spans(prog: ir.Program, offsets: list[int]) -> list[Span]:
    out: list[Span] = []
    for d in prog.decls:
        if not isinstance(d, ir.Module) or (d.path not in (None, prog.path)):
            continue
        if not any(d.span.start <= o <= d.span.end for o in offsets):
            continue
        for s in _simple_statements(d.body):
            if s.span.end > s.span.start and any(s.span.start <= o <= s.span.end for o in offsets):
                out.append(s.span)
    return out


def drop_follow_on(diagnostics: list[Diagnostic], files: dict[str, ir.Program], main_path: str) -> list[Diagnostic]:
    errors: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        if d.code in _SYNTAX:
            errors.setdefault(d.path or main_path, []).append(d)
    if not errors or all(d.code in _KEPT for d in diagnostics):
        return diagnostics
    lines: dict[str, set[int]] = {}
    spans: dict[str, list[Span]] = {}
    for path, errs in errors.items():
        lines[path] = {e.span.line for e in errs}
        prog = files.get(path)
        if prog is not None:
            spans[path] = _statement_spans(prog, [e.span.start for e in errs])
    kept: list[Diagnostic] = []
    for d in diagnostics:
        path = d.path or main_path
        if d.code not in _KEPT and path in lines and (
                d.span.line in lines[path]
                or any(s.start <= d.span.start and d.span.end <= s.end for s in spans.get(path, ()))):
            continue
        kept.append(d)
    return kept
