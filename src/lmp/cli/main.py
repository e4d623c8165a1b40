"""`lmp` entry point. Each sub-command lives in its own module `lmp.cli.cmd_<name>` with
`register(subparsers)`; modules import their heavy dependencies inside the command body so
that `lmp --help` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from collections.abc import Iterator

from lmp import __version__

COMMANDS = [
    "check", "fmt", "run", "preview", "history", "eval", "optimize", "diff_state", "lsp",
    "serve_local", "serve", "export",
]


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmp",
        description="lmp: a typed language for language-model programs. Check, run, preview and optimize .lmp files.",
    )
    parser.add_argument("--version", action="version", version=f"lmp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"lmp.cli.cmd_{name}")
        except ImportError:
            continue
        module.register(sub)
    return parser


@contextlib.contextmanager
def _warnings_as_lines(debug: bool) -> Iterator[None]:
    """lmp's own warnings (a stale state file, ...) as `warning: ...` lines, like its errors; Python's
    default format (source path, line, the offending code line) is for --debug."""
    if debug:
        yield
        return
    with warnings.catch_warnings():
        def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
            print(f"warning: {message}", file=sys.stderr)

        warnings.showwarning = show  # type: ignore[assignment]
        yield


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _warnings_as_lines(args.debug):
            return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"lmp {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        from lmp.cli.errors import render_error

        print(render_error(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
