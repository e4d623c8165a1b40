"""Reusing the lowered IR of unchanged modules between analyses of the same file (the language server).

While a user types inside one module, every other module of the file is unchanged, and lowering them
again is most of an analysis of a large file (~20 of ~45 ms on 2,000 lines). A module's lowering reads
the module's own text and, outside it, only the type and signature declarations (its parameter, output
and annotation types, the signatures its predictors name), the imported files' types and signatures, and
which declarations recovery dropped. So a module is reused when its text, its column and all of those
are unchanged (every declaration but modules, metrics, examples and tests counts, to be safe), and it
has no syntax error; its IR (and the diagnostics its lowering gave) is moved to
where the module now sits, and its predictors are pointed at this lowering's signature objects.

Only a module's own objects are moved (each once); type objects are immutable values and signatures
are re-linked, so nothing shared with other declarations is touched. Enabled by the language server
(`lmp.ir.lower.MODULE_REUSE`), checked on a sample first (`self_test`); `lmp check` never uses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from typing import Any

from lmp.diagnostics import Diagnostic, Fix, Related, Span
from lmp.ir import nodes as ir

_MAX_ENTRIES = 4_000
# Every declaration except these is context: a change to any of them (a type, a signature, an inline
# signature, and, to be safe, tools, models and retrievers too) lowers every module again.
_NOT_CONTEXT = ("module_decl", "metric_decl", "example_decl", "test_decl")
_fields_of: dict[type, tuple[str, ...]] = {}


# Fields that never hold a span or a node (by their annotation): skipped when moving a module.
_PLAIN = frozenset({"bool", "str", "str | None", "int", "float | None", "Type", "Type | None", "frozenset[str]",
                    "list[str]", "dict[int, Type]", "Any"})  # `Any`: Literal.value, a constant
_moving_fields_of: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _fields_of.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
        _fields_of[cls] = names
    return names


def _moving_fields(cls: type) -> tuple[str, ...]:
    names = _moving_fields_of.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if str(f.type) not in _PLAIN)
        _moving_fields_of[cls] = names
    return names


def _shift(s: Span, d_off: int, d_line: int) -> Span:
    return Span(s.start + d_off, s.end + d_off, s.line + d_line, s.col, s.end_line + d_line, s.end_col)


def _shift_value(v: Any, d_off: int, d_line: int, todo: list[Any]) -> Any:
    if type(v) is Span:
        return _shift(v, d_off, d_line)
    if isinstance(v, list):
        for i, item in enumerate(v):
            if type(item) is Span:
                v[i] = _shift(item, d_off, d_line)
            elif _is_node(item):
                todo.append(item)
        return v
    if isinstance(v, dict):
        for k, item in list(v.items()):
            if type(item) is Span:
                v[k] = _shift(item, d_off, d_line)
            elif _is_node(item):
                todo.append(item)
        return v
    if _is_node(v):
        todo.append(v)
    return v


def _is_node(v: Any) -> bool:
    return type(v).__module__ == ir.__name__ and dataclasses.is_dataclass(v)


def shift_module(mod: ir.Module, d_off: int, d_line: int) -> None:
    """Move every span of a module's own IR by `d_off` characters and `d_line` lines, in place."""
    seen: set[int] = set()
    todo: list[Any] = [mod]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for name in _moving_fields(type(node)):
            if isinstance(node, ir.Predictor) and name == "signature" and node.signature_ref:
                continue  # a declared signature: re-linked, not moved
            v = getattr(node, name)
            new = _shift_value(v, d_off, d_line, todo)
            if new is not v:
                setattr(node, name, new)


def _shift_diag(d: Diagnostic, d_off: int, d_line: int) -> Diagnostic:
    return Diagnostic(d.code, d.message, _shift(d.span, d_off, d_line), d.severity, d.hint, d.path,
                      [Related(_shift(r.span, d_off, d_line), r.message, r.path) for r in d.related],
                      [Fix(f.title, _shift(f.span, d_off, d_line), f.text) for f in d.fixes], d.tags)


class ModuleReuse:
    """The lowered modules of recent analyses, by file, module text and context."""

    def __init__(self, max_entries: int = _MAX_ENTRIES) -> None:
        self._cache: OrderedDict[tuple[str, str, str], tuple[ir.Module, list[Diagnostic], Span]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    @staticmethod
    def context_key(text: str, decl_trees: list[Any], span_of: Any, imported: list[ir.Program],
                    unparsed: frozenset[str]) -> str:
        h = hashlib.sha256()
        for t in decl_trees:
            if t.data not in _NOT_CONTEXT:
                s = span_of(t)
                h.update(t.data.encode() + b"\0" + text[s.start:s.end].encode("utf-8", "surrogatepass") + b"\0")
        for prog in imported:
            h.update(b"import\0" + (prog.path or "").encode() + b"\0" + prog.text.encode("utf-8", "surrogatepass"))
        h.update(repr(sorted(unparsed)).encode())
        return h.hexdigest()

    def take(self, path: str, text: str, span: Span, context: str) -> tuple[ir.Module, list[Diagnostic]] | None:
        key = (path, text[span.start:span.end], context)
        with self._lock:
            entry = self._cache.pop(key, None)
        if entry is None:
            self.misses += 1
            return None
        mod, diags, base = entry
        if base.col != span.col:
            self.misses += 1
            return None
        d_off, d_line = span.start - base.start, span.line - base.line
        if d_off or d_line:
            shift_module(mod, d_off, d_line)
            diags = [_shift_diag(d, d_off, d_line) for d in diags]
        self.hits += 1
        return mod, diags

    def store(self, path: str, text: str, mod: ir.Module, diags: list[Diagnostic], context: str) -> None:
        key = (path, text[mod.span.start:mod.span.end], context)
        with self._lock:
            self._cache[key] = (mod, diags, mod.span)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)


def relink(mod: ir.Module, signatures: dict[str, ir.Signature], imported: dict[str, ir.Signature]) -> None:
    for p in mod.predictors:
        if p.signature_ref:
            p.signature = signatures.get(p.signature_ref) or imported.get(p.signature_ref)


def summary(program: ir.Program) -> list[tuple[Any, ...]]:
    """Every span and plain value of a program's declarations, in order (the self-test compares them)."""
    out: list[tuple[Any, ...]] = []
    seen: set[int] = set()

    def walk(node: Any, where: str) -> None:
        if id(node) in seen:
            out.append((where, "seen", type(node).__name__))
            return
        seen.add(id(node))
        for name in _field_names(type(node)):
            v = getattr(node, name)
            items = list(v.items()) if isinstance(v, dict) else list(enumerate(v)) if isinstance(v, list) else [
                (None, v)]
            for k, item in items:
                if _is_node(item):
                    walk(item, f"{where}.{name}[{k}]")
                elif type(item) is Span or isinstance(item, (str, int, float, bool, type(None), frozenset)):
                    out.append((where, name, k, item))
                else:
                    out.append((where, name, k, repr(item)))

    for i, d in enumerate(program.decls):
        walk(d, f"decl{i}")
    return out


def _sample() -> str:
    parts = ['type Category = "a" | "b"', "", "signature S {", "  in  text: str", "  out label: Category", "}", ""]
    for i in range(12):
        parts += [f"module M{i}(text: str, n: int = 2) -> (label: Category) {{",
                  "  let p = ChainOfThought(S)" if i % 2 else '  let p = Predict("text: str -> label: Category")',
                  "  r = p(text: text)", "  for k in [1, 2] {", "    x: int = k + n", "  }",
                  '  if r.label == "a" {' if i != 5 else "  if r.label == Nope {", "    return (label: r.label)",
                  "  }", "  return (label: r.label)", "}", ""]
    return "\n".join(parts) + "\n"


def self_test(reuse: ModuleReuse) -> bool:
    """Whether lowering with `reuse` gives the same IR and diagnostics as without, over a few edits."""
    from lmp.ir import lower as lowering
    from lmp.syntax.parser import parse

    text = _sample()
    edits = [text, text.replace("module M3(text: str", "module M3(txt: str", 1),
             text.replace("  r = p(text: text)\n", "  r = p(text: text)\n  z = 1\n", 1),
             "# moved\n\n" + text, text]
    previous = lowering.MODULE_REUSE
    try:
        for t in edits:
            lowering.MODULE_REUSE = None
            plain, plain_diags = lowering.lower(parse(t), "/selftest.lmp", t)
            lowering.MODULE_REUSE = reuse
            reused, reused_diags = lowering.lower(parse(t), "/selftest.lmp", t)
            if summary(plain) != summary(reused):
                return False
            if sorted(map(repr, plain_diags)) != sorted(map(repr, reused_diags)):
                return False
        return reuse.hits > 0
    except Exception:  # noqa: BLE001 - any surprise means: do not use it
        return False
    finally:
        lowering.MODULE_REUSE = previous
        with reuse._lock:
            reuse._cache.clear()
