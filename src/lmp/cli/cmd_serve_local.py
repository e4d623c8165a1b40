"""`lmp serve-local`: run the embedded local model's OpenAI-compatible server in the foreground."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve-local", help="serve the embedded local model on 127.0.0.1 (OpenAI-compatible)",
                       description="Start the local model server; other lmp processes reuse it with "
                       "LMP_LOCAL_URL=http://127.0.0.1:PORT/v1.")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    p.add_argument("--verbose", action="store_true", help="show the server's log")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lmp.runtime.lm.local import serve_local

    return int(serve_local(args.port, verbose=args.verbose) or 0)
