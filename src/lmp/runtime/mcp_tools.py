"""MCP tool servers at run time: one stdio connection per server and process, started on the first
call of one of its tools (never by `lmp check`, the editor or a preview), closed at exit.

The `mcp` SDK is asynchronous; lmp's interpreter is not (it runs modules on worker threads). Each
connection therefore owns a small event loop on a daemon thread, and callers submit requests to it
(`asyncio.run_coroutine_threadsafe`); calls from several threads (ReAct's parallel tool calls, batch
rows) share the one session, as JSON-RPC allows. The server's stderr goes to a temporary file whose
tail is quoted when the server fails to start, instead of mixing its logs into lmp's output.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shlex
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from lmp.ir import nodes as ir
from lmp.ir.mcp_manifest import entry_of, output_type, refresh_command, server_dir, tools_of
from lmp.ir.types import RecordType
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.values import check_value, to_plain, wrap

if TYPE_CHECKING:
    from lmp.runtime.interpreter import Interpreter
    from lmp.runtime.predictors import ToolSpec

START_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0


def import_mcp() -> Any:
    try:
        import mcp
    except ImportError:
        raise LmpRuntimeError("MCP tool servers need the `mcp` package: pip install 'lmp[mcp]'") from None
    return mcp


class McpConnection:
    """A started MCP server over stdio and its initialized client session."""

    def __init__(self, label: str, command: list[str], cwd: str, env: dict[str, str],
                 start_timeout: float = START_TIMEOUT) -> None:
        mcp = import_mcp()
        self.label = label
        self._params = mcp.StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=cwd)
        self._errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"lmp-mcp-{label}", daemon=True)
        self._thread.start()
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        try:
            self.info = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(start_timeout)
        except BaseException as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.close()
            raise LmpRuntimeError(f"MCP server `{label}` ({shlex.join(command)}, in {cwd}) did not start: {detail}"
                                  + self._stderr_tail()) from None

    async def _open(self) -> dict[str, Any]:
        ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self._serve(ready))
        return await ready

    async def _serve(self, ready: asyncio.Future[dict[str, Any]]) -> None:
        mcp = import_mcp()
        try:
            async with mcp.stdio_client(self._params, errlog=self._errlog) as (read, write), \
                    mcp.ClientSession(read, write) as session:
                init = await session.initialize()
                self._session = session
                info = getattr(init, "server_info", None) or getattr(init, "serverInfo", None)
                ready.set_result({"name": getattr(info, "name", None), "version": getattr(info, "version", None)})
                assert self._stop is not None
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        finally:
            self._session = None

    def _stderr_tail(self) -> str:
        try:
            self._errlog.seek(0)
            tail = self._errlog.read()[-600:].strip()
        except (OSError, ValueError):
            return ""
        return f". The server wrote: {tail}" if tail else ""

    def _run(self, coro: Any, timeout: float) -> Any:
        if self.closed or self._session is None:
            raise LmpRuntimeError(f"MCP server `{self.label}` is not running (it stopped or was closed)"
                                  + self._stderr_tail())
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise LmpRuntimeError(f"MCP server `{self.label}` did not answer within {timeout:g} s") from None

    def list_tools(self, timeout: float = START_TIMEOUT) -> list[dict[str, Any]]:
        """Every tool the server lists (following pagination), as plain dicts in the wire spelling."""

        async def collect() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            cursor = None
            for _ in range(100):  # a paginator that never ends cannot hang a refresh
                page = await self._session.list_tools(cursor) if cursor else await self._session.list_tools()
                out += [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in page.tools]
                cursor = getattr(page, "next_cursor", None) or getattr(page, "nextCursor", None)
                if not cursor:
                    break
            return out

        return self._run(collect(), timeout)  # type: ignore[no-any-return]

    def call(self, name: str, arguments: dict[str, Any], timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
        async def one() -> dict[str, Any]:
            result = await self._session.call_tool(name, arguments)
            return result.model_dump(by_alias=True, exclude_none=True, mode="json")  # type: ignore[no-any-return]

        return self._run(one(), timeout)  # type: ignore[no-any-return]

    def close(self, timeout: float = 5.0) -> None:
        if self.closed:
            return
        self.closed = True
        if self._stop is not None and self._task is not None:
            stop, task = self._stop, self._task

            async def shutdown() -> None:
                # The session and the process end inside the task that opened them (anyio's rule).
                stop.set()
                await asyncio.wait({task}, timeout=timeout)

            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout + 1)
            except Exception:  # noqa: BLE001 - closing anyway; the daemon thread dies with the process
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._loop.is_running():
            self._loop.close()
        self._errlog.close()


def start(server: ir.ToolServer, start_timeout: float = START_TIMEOUT) -> McpConnection:
    """A new connection to `server` (the caller closes it): its command run in its folder, with the
    SDK's minimal environment plus the variables the declaration passes on."""
    try:
        words = shlex.split(server.command)
    except ValueError as exc:
        raise LmpRuntimeError(f"tool server `{server.name}`: the command cannot be split: {exc}") from None
    env = {k: os.environ[k] for k in server.env if k in os.environ}
    return McpConnection(server.name, words, str(server_dir(server)), env, start_timeout)


_connections: dict[tuple[Any, ...], McpConnection] = {}
_connections_lock = threading.Lock()


def connection(server: ir.ToolServer) -> McpConnection:
    """The process's connection to `server`, started on first use."""
    key = (server.command, str(server_dir(server)), tuple(sorted(server.env)))
    with _connections_lock:
        conn = _connections.get(key)
        if conn is None or conn.closed:
            conn = start(server)
            _connections[key] = conn
    return conn


def close_all() -> None:
    with _connections_lock:
        conns = list(_connections.values())
        _connections.clear()
    for conn in conns:
        conn.close()


atexit.register(close_all)


# ------------------------------------------------------------------ calling tools


def _tool(server: ir.ToolServer, name: str) -> ir.Tool:
    tools = tools_of(server)
    if tools is None:
        raise LmpRuntimeError(f"the tools of `{server.name}` are not known: run `{refresh_command(server.path)}`")
    if name not in tools:
        raise LmpRuntimeError(f"`{name}` is not a tool of `{server.name}`; its tools: {', '.join(tools) or 'none'}")
    return tools[name]


def call_tool(interp: Interpreter, server: ir.ToolServer, name: str, args: list[Any], kwargs: dict[str, Any],
              span: Any = None) -> Any:
    """`Server.name(args)`: arguments checked against the manifest's types, the server called (only
    with the arguments given: the server applies its own defaults), the result checked as well."""
    tool = _tool(server, name)
    what = f"tool `{tool.name}`"
    where = interp._where(span)
    if len(args) > len(tool.params):
        raise LmpRuntimeError(f"{where}: {what} takes {len(tool.params)} arguments, got {len(args)}")
    given = {p.name: a for p, a in zip(tool.params, args, strict=False)}
    by_name = {p.name: p for p in tool.params}
    for k, v in kwargs.items():
        if k not in by_name:
            raise LmpRuntimeError(f"{where}: {what} has no parameter `{k}`; its parameters are: "
                                  f"{', '.join(by_name) or '(none)'}")
        if k in given:
            raise LmpRuntimeError(f"{where}: {what}: `{k}` is given twice")
        given[k] = v
    for p in tool.params:
        if p.name in given:
            given[p.name] = to_plain(interp._checked(given[p.name], p.type, f"argument `{p.name}` of {what}", span))
        elif p.default is None:
            raise LmpRuntimeError(f"{where}: {what} needs the argument `{p.name}` ({p.type.render()})")
    result = connection(server).call(name, given, server.timeout or CALL_TIMEOUT)
    value = _result_value(server, name, result, what)
    if isinstance(tool.returns, RecordType) and isinstance(value, dict):
        value = wrap(value, tool.returns)
    try:
        return check_value(value, tool.returns)
    except TypeError as exc:
        raise LmpRuntimeError(f"{where}: {what} returned the wrong type: {exc}") from None


def _result_value(server: ir.ToolServer, name: str, result: dict[str, Any], what: str) -> Any:
    texts = [c.get("text", "") for c in result.get("content") or [] if isinstance(c, dict) and c.get("type") == "text"]
    if result.get("isError"):
        raise LmpRuntimeError(f"{what} failed: " + ("\n".join(texts) or "(no message)"))
    structured = result.get("structuredContent")
    if structured is None:
        return "\n".join(texts)
    entry, _ = entry_of(server)
    listing = next((t for t in (entry or {}).get("tools") or [] if isinstance(t, dict) and t.get("name") == name), {})
    _, wrapped = output_type(listing.get("outputSchema"))
    if wrapped and isinstance(structured, dict) and "result" in structured:
        return structured["result"]
    return structured


def tool_specs(interp: Interpreter, ref: str) -> list[ToolSpec]:
    """ReAct's tools for `Server` (all of its tools) or `Server.tool` (that one)."""
    from lmp.runtime.predictors import ToolSpec

    server_name, _, only = ref.partition(".")
    server = interp.program.tool_servers[server_name]
    tools = tools_of(server)
    if tools is None:
        raise LmpRuntimeError(f"the tools of `{server.name}` are not known: run `{refresh_command(server.path)}`")
    entry, _ = entry_of(server)
    schemas = {t.get("name"): t.get("inputSchema") for t in (entry or {}).get("tools") or [] if isinstance(t, dict)}
    names = [only] if only else list(tools)
    specs = []
    for n in names:
        tool = _tool(server, n)
        schema = schemas.get(n)
        specs.append(ToolSpec(
            n, tool.description or "", [(p.name, p.type.render()) for p in tool.params],
            lambda a, n=n: call_tool(interp, server, n, [], a),
            frozenset(p.name for p in tool.params if p.default is not None),
            # The server's own schema, minus the titles SDKs add: what the model is told natively.
            _untitled(schema) if isinstance(schema, dict) else None))
    return specs


def _untitled(schema: Any) -> Any:
    """A JSON Schema without the `title`s SDKs derive from parameter names (noise to a model)."""
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema
