"""Loading a program's IR: a file and the files it imports, parsed and lowered.

Checking is one layer up (`lmp.project.load_program` runs the checker on what this builds), so the IR
never depends on the checker. The language server passes the unsaved text of open buffers through
`overlay`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field

from lmp.diagnostics import Diagnostic, Related, Span
from lmp.ir.lower import lower
from lmp.ir.nodes import Program
from lmp.ir.sources import SourceError, read_source, resolve_import
from lmp.syntax.parser import parse

Reader = Callable[[str], str]


@dataclass
class Loaded:
    """A loaded program: its IR, the IR of every file it imports and all their diagnostics."""

    program: Program
    diagnostics: list[Diagnostic] = field(default_factory=list)  # for every file involved
    files: dict[str, Program] = field(default_factory=dict)  # path -> program, imports included

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity.value == "error"]


def load_ir(
    path: str | os.PathLike[str],
    text: str | None = None,
    overlay: Mapping[str, str] | None = None,
) -> Loaded:
    """Parse and lower `path` and its imports. Never raises on bad source text."""
    overlay = dict(overlay or {})
    key = os.path.abspath(os.fspath(path))
    if text is not None:
        overlay[key] = text

    def reader(p: str) -> str:
        if p in overlay:
            return overlay[p]
        return read_source(p)

    loader = _Loader(reader, overlay)
    program = loader.load(key, stack=())
    sort_diagnostics(loader.diagnostics)
    return Loaded(program, loader.diagnostics, loader.files)


def sort_diagnostics(diags: list[Diagnostic]) -> None:
    diags.sort(key=lambda d: (d.path or "", d.span.start, d.code))


class _Loader:
    def __init__(self, reader: Reader, in_memory: Container[str] = ()) -> None:
        self.reader = reader
        self.in_memory = in_memory  # paths whose text is given (editor buffers), not read from disk
        self.files: dict[str, Program] = {}
        self.diagnostics: list[Diagnostic] = []

    def load(self, path: str, stack: tuple[str, ...]) -> Program:
        if path in self.files:
            return self.files[path]
        try:
            text = self.reader(path)
        except (OSError, SourceError) as exc:
            text = ""
            message = str(exc) if isinstance(exc, SourceError) else f"cannot read {path}: {exc.strerror or exc}"
            self.diagnostics.append(Diagnostic("E002", message, Span(0, 0, 0, 0, 0, 0), path=path))
        parsed = parse(text)
        for d in parsed.diagnostics:
            d.path = path
        # Imports are lowered first so that their types and signatures resolve here.
        imported: list[Program] = []
        resolved: dict[str, str] = {}
        for tree in parsed.trees:
            for decl in tree.children:
                if getattr(decl, "data", None) != "import_decl":
                    continue
                from lmp.ir.lower import string_value

                tok = decl.children[0]
                rel = string_value(tok)
                assert parsed.positions is not None
                span = parsed.positions.of(tok)
                res = resolve_import(path, rel, self.in_memory)
                if res.path is None:
                    self.diagnostics.append(Diagnostic(res.code, res.message, span, path=path, hint=res.hint))
                    continue
                target = res.path
                resolved[rel] = target
                if target in stack or target == path:
                    cycle = " -> ".join(os.path.basename(p) for p in (*stack, path, target))
                    self.diagnostics.append(Diagnostic("E101", f"import cycle: {cycle}", span, path=path,
                                                       hint="move the shared declarations into a third file"))
                    continue
                imported.append(self.load(target, (*stack, path)))
        program, diags = lower(parsed, path, text, imported)
        for d in diags:
            d.path = d.path or path
        self.diagnostics.extend(d for d in diags if d not in parsed.diagnostics)
        self.diagnostics.extend(parsed.diagnostics)
        program.imported = imported
        for imp in program.imports:
            # None for a refused or missing import: go-to-definition must not lead an editor there.
            imp.resolved = resolved.get(imp.name)
        _merge_imports(program, imported, self.diagnostics)
        self.files[path] = program
        return program


def _merge_imports(program: Program, imported: list[Program], diagnostics: list[Diagnostic]) -> None:
    """Make imported declarations visible by name (this file's own win, with a diagnostic)."""
    for other in imported:
        for table_name in ("types", "signatures", "modules", "tools", "retrievers", "tool_servers", "models"):
            mine = getattr(program, table_name)
            for name, decl in getattr(other, table_name).items():
                if name in mine and mine[name] is not decl and mine[name].path == program.path:
                    diagnostics.append(Diagnostic(
                        "E020", f"`{name}` is already defined in {os.path.basename(other.path)}",
                        mine[name].name_span, path=program.path,
                        related=[Related(decl.name_span, "imported definition", other.path)]))
                    continue
                mine.setdefault(name, decl)
