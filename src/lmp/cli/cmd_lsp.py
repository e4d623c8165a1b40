"""`lmp lsp`: the language server (stdio by default, or TCP)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lsp", help="run the language server (stdio by default)",
                       description="Run the lmp language server. Editors start it with `lmp lsp --stdio`.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    mode.add_argument("--tcp", action="store_true", help="listen on a TCP port instead")
    p.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    p.add_argument("--log-file", metavar="PATH", help="write the server's log to this file")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    # VS Code's language client may append --clientProcessId=N; accept and ignore it.
    p.add_argument("--clientProcessId", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import sys

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log_file:
        handlers = [logging.FileHandler(args.log_file, encoding="utf-8")]
    logging.basicConfig(level=getattr(logging, args.log_level), handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from lmp.lsp.server import serve

    return serve("tcp" if args.tcp else "stdio", args.host, args.port)
