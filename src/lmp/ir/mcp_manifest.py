"""MCP tool servers in the IR: the `tool NAME = mcp("command")` declaration and its manifest.

The checker and the editor must know an MCP server's tools and their types without ever starting
the server (opening a file runs no user code). So the tools are read from a *manifest*, a JSON file
beside the declaring program (`agent.lmp` -> `agent.mcp.json`), which `lmp mcp refresh agent.lmp`
writes by starting each server once and listing its tools. The manifest records, per server:

    {"lmp_mcp_manifest": 1,
     "servers": {"Files": {"command": "python server.py", "cwd": null, "env": [],
                           "files": {"server.py": "sha256:..."},
                           "server": {"name": "files", "version": "1.0"},
                           "refreshed": "2026-12-03T01:20:00Z",
                           "tools": [{"name", "description", "inputSchema", "outputSchema"?}]}}}

A server with no entry, or whose entry was made for another command, has no known tools (E046, with
the refresh command as the hint); a file named in the command (the server script) whose content
changed since the refresh makes the manifest possibly stale (W112). Argument and result types come
from the tools' JSON Schemas (`schema_type`); SDKs wrap a non-object result as `{"result": ...}`,
which is unwrapped, so `add(a: int, b: int) -> int` on the server is `int` here too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmp.diagnostics import Severity, Span
from lmp.ir import nodes as ir
from lmp.ir.types import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    NONE,
    STR,
    DictType,
    ListType,
    LiteralType,
    OptionalType,
    RecordField,
    RecordType,
    Type,
)

MANIFEST_VERSION = 1
SUFFIX = ".mcp.json"
# Files named in a server's command are hashed only up to this size (a server script, not data).
_HASH_LIMIT = 1 << 20
_MAX_DEPTH = 8

ErrorFn = Callable[..., None]


def refresh_command(program_path: str | None) -> str:
    name = os.path.basename(program_path) if program_path else "FILE.lmp"
    return f"lmp mcp refresh {name}"


# ------------------------------------------------------------------ declaration


def lower_server(name: str, expr: ir.Expr, span: Span, name_span: Span, error: ErrorFn) -> ir.ToolServer | None:
    """`mcp("command args", cwd: "dir", env: ["VAR"], timeout: 30)` -> a ToolServer, or None with E046."""
    from lmp.ir.lower import constant

    example = 'e.g. `tool Files = mcp("python server.py --root .")`'
    if not (isinstance(expr, ir.Call) and isinstance(expr.func, ir.Name) and expr.func.id == "mcp"):
        error("E046", "a tool server is declared with `mcp(\"command\")`", expr.span, hint=example)
        return None
    args = expr.args
    if len(args) != 1 or not (isinstance(args[0], ir.Literal) and isinstance(args[0].value, str)
                              and args[0].value.strip()):
        error("E046", "`mcp` takes the command that starts the server, as one string", expr.span, hint=example)
        return None
    command = args[0].value
    try:
        words = shlex.split(command)
    except ValueError as exc:
        error("E046", f"the command cannot be split into words: {exc}", args[0].span)
        return None
    if not words:
        error("E046", "the command is empty", args[0].span, hint=example)
        return None
    server = ir.ToolServer(name, command, span=span, name_span=name_span, command_span=args[0].span)
    for kw in expr.kwargs:
        try:
            value = constant(kw.value)
        except ValueError:
            value = object()
        if kw.name == "cwd" and isinstance(value, str):
            server.cwd = value
        elif kw.name == "env" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            server.env = list(value)
        elif kw.name == "timeout" and isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            server.timeout = float(value)
        elif kw.name in ("cwd", "env", "timeout"):
            want = {"cwd": "a string (a folder relative to this file)", "env": "a list of variable names",
                    "timeout": "a positive number of seconds"}[kw.name]
            error("E046", f"`{kw.name}` must be {want}", kw.value.span)
        else:
            error("E046", f"`mcp` has no option `{kw.name}`", kw.span, hint="options: cwd, env, timeout")
    return server


# ------------------------------------------------------------------ manifest files


def manifest_path(program_path: str) -> Path:
    """`agent.lmp` -> `agent.mcp.json` in the same folder."""
    p = Path(program_path)
    return p.with_name(p.stem + SUFFIX)


def server_dir(server: ir.ToolServer) -> Path:
    """The folder the server runs in: `cwd` relative to the declaring file's folder (default: it)."""
    base = Path(server.path).resolve().parent if server.path else Path.cwd()
    return (base / server.cwd).resolve() if server.cwd else base


def fingerprint(server: ir.ToolServer) -> dict[str, Any]:
    """What an entry must have been made for: the command, folder and passed variables as written."""
    return {"command": server.command, "cwd": server.cwd, "env": sorted(server.env)}


def command_files(server: ir.ToolServer) -> dict[str, str]:
    """{word: sha256} for the words of the command that name regular files in the server's folder
    (its script); read only, never run."""
    out: dict[str, str] = {}
    try:
        words = shlex.split(server.command)
    except ValueError:
        return out
    folder = server_dir(server)
    for word in words[1:]:
        if word.startswith("-"):
            continue
        p = folder / word
        try:
            if p.is_file() and p.stat().st_size <= _HASH_LIMIT:
                out[word] = "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        except OSError:
            continue
    return out


_cache: dict[str, tuple[tuple[int, int], dict[str, Any] | None, str | None]] = {}
_cache_lock = threading.Lock()


def read_manifest(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest, None), (None, None) when there is no file, or (None, what is wrong with it).
    Re-read only when the file changed (the language server asks on every check)."""
    try:
        st = path.stat()
    except OSError:
        return None, None
    if not path.is_file():
        return None, f"{path.name} is not a regular file"
    key = (st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _cache.get(str(path))
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    data: dict[str, Any] | None = None
    problem: str | None = None
    if st.st_size > 8 * _HASH_LIMIT:
        problem = f"{path.name} is larger than 8 MB"
    else:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            problem = f"{path.name} cannot be read as JSON ({exc})"
        else:
            if (not isinstance(loaded, dict) or loaded.get("lmp_mcp_manifest") != MANIFEST_VERSION
                    or not isinstance(loaded.get("servers"), dict)):
                problem = f"{path.name} is not an lmp MCP manifest (version {MANIFEST_VERSION})"
            else:
                data = loaded
    with _cache_lock:
        _cache[str(path)] = (key, data, problem)
    return data, problem


def write_manifest(path: Path, entries: dict[str, dict[str, Any]], keep: set[str] | None = None) -> None:
    """Write `entries` (server name -> entry), keeping the existing entries named in `keep`."""
    old, _ = read_manifest(path)
    servers = {n: e for n, e in ((old or {}).get("servers") or {}).items() if keep and n in keep}
    servers.update(entries)
    text = json.dumps({"lmp_mcp_manifest": MANIFEST_VERSION, "servers": dict(sorted(servers.items()))},
                      indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def make_entry(server: ir.ToolServer, info: dict[str, Any], tools: list[dict[str, Any]], when: str) -> dict[str, Any]:
    return {**fingerprint(server), "files": command_files(server), "server": info, "refreshed": when,
            "tools": tools}


# ------------------------------------------------------------------ tools and problems


def entry_of(server: ir.ToolServer) -> tuple[dict[str, Any] | None, list[tuple[str, Severity, str]]]:
    """The server's manifest entry and what is wrong: [(code, severity, message)]."""
    if not server.path:
        return None, [("E046", Severity.ERROR, f"tool server `{server.name}` has no file to keep a manifest beside")]
    path = manifest_path(server.path)
    data, problem = read_manifest(path)
    if problem is not None:
        return None, [("E046", Severity.ERROR, problem)]
    if data is None:
        return None, [("E046", Severity.ERROR, f"the tools of `{server.name}` are not known yet: {path.name} "
                       "does not exist (lmp never starts a server to check a program)")]
    entry = data["servers"].get(server.name)
    if not isinstance(entry, dict) or not isinstance(entry.get("tools"), list):
        return None, [("E046", Severity.ERROR, f"{path.name} has no entry for `{server.name}`")]
    made_for = {k: entry.get(k) for k in ("command", "cwd")} | {"env": sorted(entry.get("env") or [])}
    if made_for != fingerprint(server):
        return None, [("E046", Severity.ERROR, f"{path.name} was made for `{server.name}` started as "
                       f"{entry.get('command')!r}; the declaration now says {server.command!r}")]
    files = entry.get("files") if isinstance(entry.get("files"), dict) else {}
    now = command_files(server)
    changed = sorted(w for w, digest in files.items() if now.get(w) != digest)
    if changed:
        return entry, [("W112", Severity.WARNING, f"{', '.join(changed)} changed since {path.name} was made: "
                        f"the tools of `{server.name}` may have changed")]
    return entry, []


def tools_of(server: ir.ToolServer) -> dict[str, ir.Tool] | None:
    """The server's tools as typed IR tools (from the manifest; read once per declaration)."""
    if not server.loaded:
        entry, _ = entry_of(server)
        server.tools = None if entry is None else {
            t["name"]: tool_from_listing(server, t) for t in entry["tools"]
            if isinstance(t, dict) and isinstance(t.get("name"), str)}
        server.loaded = True
    return server.tools


def tool_from_listing(server: ir.ToolServer, listing: dict[str, Any]) -> ir.Tool:
    """One listed tool as an IR tool: parameters from `inputSchema`, the result from `outputSchema`
    (text when there is none)."""
    schema = listing.get("inputSchema") if isinstance(listing.get("inputSchema"), dict) else {}
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = _names(schema.get("required"))
    params = []
    for pname, pschema in props.items():
        if not isinstance(pname, str) or not pname.isidentifier():
            continue  # not nameable as an lmp keyword argument
        t = schema_type(pschema, schema)
        default = None if pname in required else ir.Literal((pschema or {}).get("default")
                                                            if isinstance(pschema, dict) else None)
        params.append(ir.Param(pname, t, default))
    returns, _ = output_type(listing.get("outputSchema"))
    desc = listing.get("description")
    tool = ir.Tool(f"{server.name}.{listing['name']}", params, returns, f"mcp:{server.name}/{listing['name']}",
                   description=desc if isinstance(desc, str) and desc else None,
                   span=server.span, name_span=server.name_span, path=server.path)
    return tool


def output_type(schema: Any) -> tuple[Type, bool]:
    """(result type, wrapped): no schema means the text content (`str`); a `{"result": T}` object
    with that one required property is how SDKs wrap a non-object result, read as `T`."""
    if not isinstance(schema, dict):
        return STR, False
    props = schema.get("properties")
    if isinstance(props, dict) and list(props) == ["result"] and schema.get("required") == ["result"]:
        return schema_type(props["result"], schema), True
    return schema_type(schema, schema), False


def schema_type(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Type:
    """An lmp type for a JSON Schema (what cannot be expressed is `any`)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return ANY
    root = root or schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                defs = root.get(prefix.split("/")[1]) or {}
                return schema_type(defs.get(ref[len(prefix):]), root, depth + 1)
        return ANY
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return LiteralType(tuple(dict.fromkeys(enum)))
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            nullable = any(isinstance(o, dict) and o.get("type") == "null" for o in options)
            rest = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            inner = schema_type(rest[0], root, depth + 1) if len(rest) == 1 else _union(rest, root, depth)
            return OptionalType(inner) if nullable and inner is not ANY else inner
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        kinds = [k for k in kind if k != "null"]
        inner = schema_type({**schema, "type": kinds[0]}, root, depth + 1) if len(kinds) == 1 else ANY
        return OptionalType(inner) if nullable and inner is not ANY else inner
    if kind == "string":
        return STR
    if kind == "integer":
        return INT
    if kind == "number":
        return FLOAT
    if kind == "boolean":
        return BOOL
    if kind == "null":
        return NONE
    if kind == "array":
        return ListType(schema_type(schema.get("items"), root, depth + 1) if "items" in schema else ANY)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if isinstance(props, dict) and props:
            required = _names(schema.get("required"))
            fields = []
            for name, sub in props.items():
                t = schema_type(sub, root, depth + 1)
                if name not in required and not isinstance(t, OptionalType) and t is not ANY:
                    t = OptionalType(t)
                desc = sub.get("description") if isinstance(sub, dict) else None
                fields.append(RecordField(name, t, desc if isinstance(desc, str) else None))
            return RecordType(tuple(fields), None)
        extra = schema.get("additionalProperties")
        return DictType(STR, schema_type(extra, root, depth + 1) if isinstance(extra, dict) else ANY)
    return ANY


def _names(value: Any) -> set[str]:
    """A schema's `required` list (a hand-edited manifest may hold anything there)."""
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _union(options: list[Any], root: dict[str, Any], depth: int) -> Type:
    types = [schema_type(o, root, depth + 1) for o in options]
    if all(isinstance(t, LiteralType) for t in types):
        return LiteralType(tuple(dict.fromkeys(m for t in types for m in t.members)))  # type: ignore[union-attr]
    return ANY
