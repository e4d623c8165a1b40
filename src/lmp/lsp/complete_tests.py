"""Completion inside a `test` block: its inputs at the start of a line, `expect`/`check`, and in an
expectation the names it can use (the target's outputs, `result`, `example`, `latency_ms`, metrics)."""

from __future__ import annotations

import re

from lsprotocol import types as lsp

from lmp import ir
from lmp.ir.types import Type

EXPECTATION_KEYWORDS = ["expect", "check"]
BOUND_NAMES = {"result": "record of all outputs", "example": "inputs and labels", "latency_ms": "float"}
AFTER_OPERAND = ["and", "or", "in", "not", "contains"]


def enclosing_test(text: str, offset: int) -> tuple[str, set[str]] | None:
    """(target, inputs already given) of the `test` block whose braces hold `offset`, read from the text:
    while a line is being typed the block does not parse, so the IR has no test there yet."""
    header = None
    for m in re.finditer(r"^test\s+\w+\s+for\s+(\w+)\s*\{", text[:offset], re.M):
        header = m
    if header is None:
        return None
    depth = 1
    body = text[header.end():offset]
    for ch in re.sub(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*', "", body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return None  # the block closed before the cursor
    rest = text[header.end():]
    close = re.search(r"^\}", rest, re.M)
    given = set(re.findall(r"^\s*(\w+)\s*:", rest[: close.start() if close else len(rest)], re.M))
    return header.group(1), given - {"expect", "check"}


def _fields(program: ir.Program, target: str) -> tuple[dict[str, Type], dict[str, Type]] | None:
    mod = program.modules.get(target)
    if mod is not None and not mod.is_metric:
        return {p.name: p.type for p in mod.params}, {f.name: f.type for f in mod.outputs}
    sig = program.signatures.get(target)
    if sig is not None:
        return {f.name: f.type for f in sig.inputs}, {f.name: f.type for f in sig.outputs}
    return None


def _item(label: str, kind: lsp.CompletionItemKind, detail: str, sort: str, insert: str | None = None
          ) -> lsp.CompletionItem:
    return lsp.CompletionItem(label=label, kind=kind, detail=detail, sort_text=f"{sort}{label}",
                              insert_text=insert)


def target_items(program: ir.Program) -> list[lsp.CompletionItem]:
    """What a test can run: the modules (not metrics), then the signatures."""
    K = lsp.CompletionItemKind
    return [_item(n, K.Module, "module", "0") for n, m in program.modules.items() if not m.is_metric] + [
        _item(n, K.Interface, "signature", "1") for n in program.signatures]


def items_in_test(program: ir.Program, test: tuple[str, set[str]], prefix: str) -> list[lsp.CompletionItem]:
    """Items for the line `prefix` (text from the line start to the cursor) inside `test`."""
    K = lsp.CompletionItemKind
    target, given = test
    fields = _fields(program, target)
    inputs, outputs = fields if fields else ({}, {})
    code = re.sub(r'"(?:[^"\\]|\\.)*"?', '""', prefix)
    before = re.sub(r"[A-Za-z_]\w*$", "", code)
    if not before.strip():  # a new line: an input not given yet, or an expectation
        return [_item(n, K.Field, f"input: {t.render()}", "0", insert=f"{n}: ")
                for n, t in inputs.items() if n not in given] + [
            _item(k, K.Keyword, "hard assertion" if k == "expect" else "soft check (reported, never fails)", "1")
            for k in EXPECTATION_KEYWORDS]
    if re.match(r"^\s*\w+\s*:\s*", before) and not re.match(r"^\s*(?:expect|check)\b", before):
        return []  # an input's value: a constant
    if re.match(r"^\s*(?:expect|check)\b", before):
        if re.search(r"(?:[\w)\]\"])\s+$", before) and not re.search(r"\b(?:expect|check|and|or|not|in|contains)\s+$",
                                                                    before):
            return [_item(k, K.Keyword, "operator", "7") for k in AFTER_OPERAND]
        metrics = [_item(n, K.Function, "metric", "3") for n, m in program.modules.items() if m.is_metric]
        return [_item(n, K.Field, f"output: {t.render()}", "0") for n, t in outputs.items()] + [
            _item(n, K.Variable, d, "1") for n, d in BOUND_NAMES.items()] + metrics + [
            _item(k, K.Keyword, "", "8") for k in ("not", "true", "false", "none")]
    return []
