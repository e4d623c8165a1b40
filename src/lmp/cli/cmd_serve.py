"""`lmp serve prog.lmp --port 8000`: serve a program's modules as an HTTP JSON API."""

from __future__ import annotations

import argparse
import os
import sys

from lmp.cli.main import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve a program's modules as an HTTP JSON API (OpenAPI, health, limits, JSON logs)",
        description="Serve every module of a .lmp program as POST /modules/{Name} with bodies validated "
        "against the declared types, and POST /modules/{Name}/stream (server-sent events: partial typed "
        "outputs, then the result); GET /openapi.json, /healthz, /readyz. One JSON log line per request "
        "(tokens, cost, latency) on stderr. SIGTERM/Ctrl-C drains in-flight requests. See docs/deploy.md.")
    p.add_argument("program", help="the .lmp file")
    p.add_argument("--state", metavar="STATE.json", help="optimized instructions/demos (default: <prog>.state.json if present)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all interfaces)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free port)")
    p.add_argument("--model", action="append", default=[], metavar="ROLE=ID",
                   help="model for a role, e.g. --model default=openai/gpt-4o-mini (ID alone: the default role)")
    p.add_argument("--concurrency", type=int, default=8, metavar="N",
                   help="module runs in flight at once; more requests get 503 (default 8)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds per request before 504 (default 60)")
    p.add_argument("--drain-timeout", type=float, default=None, metavar="S",
                   help="on SIGTERM, wait this long for in-flight requests (default: --timeout + 5)")
    p.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES", help="largest request body (default 1 MiB)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("--history", metavar="FILE.jsonl", help="also append every model call (messages included) to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lmp.api import load
    from lmp.cli.cmd_run import model_overrides
    from lmp.runtime import settings

    if not os.path.exists(args.program):
        raise UsageError(f"no such file: {args.program}")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    try:
        from lmp.deploy.server import JsonLog, LmpServer, ServeOptions, serve
    except ImportError as exc:  # starlette/uvicorn are dependencies; a broken install says so
        raise UsageError(f"lmp serve needs starlette and uvicorn ({exc}); pip install starlette uvicorn") from None

    default, roles = model_overrides(args.model)
    settings.configure(model=default, models=roles, cache=not args.no_cache)
    handle = load(args.program, state=args.state)
    options = ServeOptions(concurrency=args.concurrency, timeout=args.timeout, max_body_bytes=args.max_body,
                           cache=not args.no_cache, history_path=args.history)
    server = LmpServer(handle, options, log=JsonLog(sys.stderr))

    def announce(url: str) -> None:
        mods = ", ".join(f"POST {url}/modules/{m}" for m in server.modules)
        print(f"lmp serve: {os.path.basename(handle.path)} on {url}  ({mods}; docs: {url}/openapi.json)",
              file=sys.stderr, flush=True)

    try:
        return serve(server, args.host, args.port, drain_timeout=args.drain_timeout, on_listen=announce)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
