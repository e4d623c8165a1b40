"""Go to definition on a Python target string (`tool t(...) = "pkg.mod:fn"`, `retriever r = "pkg.mod:fn"`).

The module's file is found the way the interpreter will import it (the program's folder first, then
the project root and the import search path, then this Python's `sys.path`), but by looking at files
only: nothing is imported, so opening a file never runs user code. The function is found with `ast`
(`def`, `async def`, `class`, or a top-level assignment; `Cls.method` walks into the class); when it
is not there (made at import time, say) the module's first line is the answer.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass

from lmp.ir import nodes as ir

_MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class PyLocation:
    path: str
    line: int  # 0-based
    col: int
    end_col: int


def search_dirs(program_path: str) -> list[str]:
    from lmp.ir.sources import project_root, search_path

    here = os.path.dirname(os.path.abspath(program_path))
    root = project_root(here)
    out: list[str] = []
    for d in [here, root, *search_path(root), *sys.path]:
        d = os.path.abspath(d or os.getcwd())
        if d not in out and os.path.isdir(d):
            out.append(d)
    return out


def module_file(module: str, dirs: list[str]) -> str | None:
    parts = module.split(".")
    if not module or not all(p.isidentifier() for p in parts):
        return None
    for base in dirs:
        stem = os.path.join(base, *parts)
        for cand in (stem + ".py", os.path.join(stem, "__init__.py")):
            if os.path.isfile(cand):
                return cand
    return None


def _find(body: list[ast.stmt], names: list[str]) -> ast.AST | None:
    name, rest = names[0], names[1:]
    found: ast.AST | None = None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            found = node  # the last definition wins, as at run time
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found = node
    if found is None or not rest:
        return found
    if isinstance(found, ast.ClassDef):
        return _find(found.body, rest)
    return None


def locate(target: str, program_path: str) -> PyLocation | None:
    module, _, attr = target.partition(":")
    path = module_file(module.strip(), search_dirs(program_path))
    if path is None:
        return None
    try:
        if os.path.getsize(path) > _MAX_BYTES:
            return PyLocation(path, 0, 0, 0)
        with open(path, encoding="utf-8", errors="replace") as fh:
            source = fh.read()
        tree = ast.parse(source, path)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return PyLocation(path, 0, 0, 0)
    node = _find(tree.body, attr.split(".")) if attr else None
    if node is None:
        return PyLocation(path, 0, 0, 0)
    line = node.lineno - 1
    text = source.splitlines()[line] if line < len(source.splitlines()) else ""
    name = attr.split(".")[-1]
    col = text.find(name, node.col_offset) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                 ast.ClassDef)) else node.col_offset
    col = max(col, 0)
    utf16 = len(text[:col].encode("utf-16-le")) // 2  # LSP columns count UTF-16 units
    return PyLocation(path, line, utf16, utf16 + len(name.encode("utf-16-le")) // 2)


def target_at(program: ir.Program, offset: int) -> str | None:
    """The Python target string under `offset`, if a tool or Python retriever declares one there."""
    for d in program.decls:
        if d.path not in (None, program.path) or not (d.span.start <= offset <= d.span.end):
            continue
        if isinstance(d, ir.Tool) and d.target and d.target_span.start <= offset <= d.target_span.end:
            return d.target
        if isinstance(d, ir.Retriever) and d.kind == "python" and d.target:
            at = program.text.find(f'"{d.target}"', d.span.start, d.span.end + 1)
            if at >= 0 and at <= offset <= at + len(d.target) + 2:
                return d.target
    return None
