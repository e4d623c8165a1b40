"""Checks for MCP tool servers (`tool Files = mcp("...")`): the manifest that types their tools
(E046 when there is none or it was made for another command, W112 when the server's script changed
since), calls `Files.tool(args)` typed by the tools' JSON Schemas (E090 like any tool call), and
`Files` / `Files.tool` in ReAct's `tools`. The manifest is only read: no server is ever started."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmp.diagnostics import Span, suggest
from lmp.ir import nodes as ir
from lmp.ir.types import ANY, Type

if TYPE_CHECKING:
    from lmp.checker.checker import Checker, Scope

# lmp.ir.mcp_manifest (json, hashlib, shlex, pathlib: ~10 ms) is imported where a program declares a
# server, so `lmp check` of a program without one does not pay for it.


def check_tool_server(ck: Checker, server: ir.ToolServer) -> None:
    from lmp.ir.mcp_manifest import entry_of, refresh_command, tools_of

    tools_of(server)
    _, problems = entry_of(server)
    hint = f"run `{refresh_command(server.path)}` to start the server once and record its tools"
    for code, severity, message in problems:
        ck.report(code, message, server.command_span if server.command_span.end else server.name_span,
                  hint=hint, severity=severity)


def _server_of(ck: Checker, e: ir.Expr) -> ir.ToolServer | None:
    if isinstance(e, ir.Name) and e.id in ck.program.tool_servers:
        return ck.program.tool_servers[e.id]
    return None


def server_tool_ref(ck: Checker, item: ir.Expr, react: bool = False) -> bool:
    """`Files` (all its tools) or `Files.read` in ReAct's `tools`: True when it names a server (an
    unknown tool of it is reported here)."""
    if _server_of(ck, item) is not None:
        return True
    if isinstance(item, ir.Attribute):
        server = _server_of(ck, item.obj)
        if server is None:
            return False
        _tool(ck, server, item.name, item.name_span)
        return True
    return False


def _tool(ck: Checker, server: ir.ToolServer, name: str, span: Span) -> ir.Tool | None:
    from lmp.ir.mcp_manifest import refresh_command, tools_of

    tools = tools_of(server)
    if tools is None:
        return None  # no manifest: reported once at the declaration (E046)
    tool = tools.get(name)
    if tool is None:
        guess = suggest(name, list(tools))
        ck.report("E030", f"`{name}` is not a tool of `{server.name}`", span,
                  hint=f"did you mean `{guess}`?" if guess else "its tools: " + (", ".join(tools) or "none")
                  + f" (as recorded by `{refresh_command(server.path)}`)")
    return tool


def call_server_tool(ck: Checker, e: ir.Call, scope: Scope) -> Type | None:
    """The type of `Server.tool(args)` (arguments checked like a tool's), or None when the callee is
    not a server's tool."""
    func = e.func
    assert isinstance(func, ir.Attribute)
    server = _server_of(ck, func.obj)
    if server is None:
        return None
    tool = _tool(ck, server, func.name, func.name_span)
    if tool is None:
        for a in e.args:
            ck.expr(a, scope)
        for k in e.kwargs:
            ck.expr(k.value, scope)
        return ANY
    ck.call_params(e, tool.name, tool.params, scope)
    return tool.returns
