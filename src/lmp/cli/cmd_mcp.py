"""`lmp mcp refresh FILE` / `lmp mcp list FILE`: the manifest of a program's MCP tool servers.

`refresh` is the one place lmp starts an MCP server outside a run: it starts each server the file
declares (`tool NAME = mcp("command")`), lists its tools and writes them, with their JSON Schemas,
to the manifest beside the file (`agent.lmp` -> `agent.mcp.json`) that `lmp check`, the editor and
`lmp run` read. `list` prints what the manifest says, typed as the checker sees it, starting nothing.
"""

from __future__ import annotations

import argparse
import sys
import time

from lmp.cli.main import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mcp", help="record (refresh) or show the tools of a program's MCP tool servers",
                       description="MCP tool servers: `refresh` starts each server a program declares, lists its "
                       "tools and writes them to the manifest beside the program (FILE.mcp.json); `list` shows the "
                       "manifest's tools with their lmp types without starting anything.",
                       epilog="`lmp mcp refresh FILE [--server NAME]... [--timeout SECONDS]`: start each server "
                       "FILE declares (or only those named), list its tools, write FILE.mcp.json (other servers' "
                       "entries are kept; exit 1 if a server failed). `lmp mcp list FILE`: print each server's "
                       "tools as `Server.tool(params) -> type` from the manifest (exit 1 when one has none). "
                       "See docs/language.md#mcp-tool-servers.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = actions.add_parser("refresh", help="start the servers once and write FILE.mcp.json")
    r.add_argument("program", help="the .lmp file that declares `tool NAME = mcp(\"...\")`")
    r.add_argument("--server", action="append", default=[], metavar="NAME",
                   help="refresh only this server (repeatable); the others' entries are kept")
    r.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a server to start (default 30)")
    r.set_defaults(func=refresh)
    ls = actions.add_parser("list", help="show the recorded tools and their types (starts nothing)")
    ls.add_argument("program")
    ls.set_defaults(func=list_tools)


def _servers(path: str, only: list[str]) -> tuple[list, str]:  # type: ignore[type-arg]
    import os

    from lmp.cli.cmd_run import require_program
    from lmp.ir import nodes as ir
    from lmp.ir.project import load_ir

    require_program(path, "mcp")
    loaded = load_ir(path)
    program = loaded.program
    own = [d for d in program.decls if isinstance(d, ir.ToolServer)]
    if not own:
        raise UsageError(f"{path} declares no MCP tool server (`tool NAME = mcp(\"command\")`)")
    unknown = [n for n in only if n not in {s.name for s in own}]
    if unknown:
        raise UsageError(f"{path} declares no tool server named {', '.join(unknown)}; it declares: "
                         + ", ".join(s.name for s in own))
    return [s for s in own if not only or s.name in only], os.path.abspath(path)


def refresh(args: argparse.Namespace) -> int:
    from lmp.ir.mcp_manifest import make_entry, manifest_path, write_manifest
    from lmp.runtime import mcp_tools

    servers, path = _servers(args.program, args.server)
    all_names = {s.name for s in _servers(args.program, [])[0]}
    entries = {}
    failed = 0
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for server in servers:
        start = time.perf_counter()
        print(f"{server.name}: starting {server.command} ...", file=sys.stderr, flush=True)
        try:
            conn = mcp_tools.start(server, start_timeout=args.timeout)
            try:
                tools = conn.list_tools()
                info = conn.info
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - one broken server must not stop the others' refresh
            print(f"{server.name}: failed: {exc}", file=sys.stderr)
            failed += 1
            continue
        entries[server.name] = make_entry(server, info, tools, when)
        names = ", ".join(t.get("name", "?") for t in tools) or "no tools"
        print(f"{server.name}: {len(tools)} tool(s) in {time.perf_counter() - start:.1f} s: {names}")
    target = manifest_path(path)
    if entries:
        # Entries of servers not refreshed now are kept; those of servers no longer declared are dropped.
        write_manifest(target, entries, keep=all_names - set(entries))
        print(f"wrote {target}")
    return 1 if failed else 0


def list_tools(args: argparse.Namespace) -> int:
    from lmp.ir.mcp_manifest import entry_of, manifest_path, refresh_command, tools_of

    servers, path = _servers(args.program, [])
    status = 0
    for server in servers:
        tools = tools_of(server)
        _, problems = entry_of(server)
        for _code, _sev, message in problems:
            print(f"{server.name}: {message}", file=sys.stderr)
        if tools is None:
            print(f"{server.name}: no tools recorded; run `{refresh_command(path)}`", file=sys.stderr)
            status = 1
            continue
        print(f"{server.name} = mcp({server.command!r})  [{manifest_path(path).name}]")
        for name, tool in tools.items():
            params = ", ".join(f"{p.name}: {p.type.render()}" + (" = …" if p.default is not None else "")
                               for p in tool.params)
            desc = f"  # {tool.description.splitlines()[0]}" if tool.description else ""
            print(f"  {server.name}.{name}({params}) -> {tool.returns.render()}{desc}")
    return status
