"""`lmp` entry point. Each sub-command lives in its own module `lmp.cli.cmd_<name>` with
`register(subparsers)`; modules import their heavy dependencies inside the command body so
that `lmp --help` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from types import FrameType

from lmp import __version__

COMMANDS = [
    "check", "fmt", "run", "preview", "history", "eval", "optimize", "diff_state", "lsp",
    "serve_local", "serve", "export", "mcp", "test",
]


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


def _only_needed(argv: list[str]) -> list[str] | None:
    """The commands whose sub-parsers `argv` needs, or None for all of them. Importing and building
    all 14 costs ~30 ms, most of a cold `lmp check`; only a top-level listing (`lmp`, `lmp --help`, an
    unknown command's "invalid choice" error) shows them all. Scans as argparse does, abbreviations
    included: `--debug` may come first, `--version` exits before any command is looked at, and anything
    else ahead of the command (`--help`, `--`, an unknown option) gets the full parser."""
    for arg in argv:
        if len(arg) > 2 and "--debug".startswith(arg):
            continue
        if len(arg) > 2 and "--version".startswith(arg):
            return []
        module = arg.replace("-", "_")  # a command's module: `diff-state` is cmd_diff_state
        return [module] if module in COMMANDS and "_" not in arg else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `lmp` parser; given the command line it will parse, with only the sub-commands that parsing
    can reach (see `_only_needed`), else with all of them."""
    parser = argparse.ArgumentParser(
        prog="lmp",
        description="lmp: a typed language for language-model programs. Check, run, preview and optimize .lmp files.",
    )
    parser.add_argument("--version", action="version", version=f"lmp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    needed = _only_needed(argv) if argv is not None else None
    for name in COMMANDS if needed is None else needed:
        try:
            module = importlib.import_module(f"lmp.cli.cmd_{name}")
        except ImportError:
            if needed:  # argparse's "invalid choice" error should list the commands that do load
                return build_parser()
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


class _Interrupts:
    """Ctrl-C (or SIGTERM) once: a KeyboardInterrupt, so a batch, evaluation or optimization stops
    starting work, keeps what finished and exits 130 (143 for SIGTERM). Twice: quit at once, without
    waiting for model calls in flight; every finished row was already flushed to its file."""

    def __init__(self) -> None:
        self.count = 0
        self.signum: int | None = None
        self.saved: dict[int, object] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signum = self.signum or signum
        if self.count == 1:
            raise KeyboardInterrupt
        with contextlib.suppress(Exception):
            sys.stderr.write("\ninterrupted again: quitting now (finished work is saved; rerun to resume)\n")
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(self.exit_code())

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        # Signal handlers can only be set from the main thread (tests call main() from others too). A
        # signal the parent set to "ignore" (nohup, a background job) stays ignored.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            if signal.getsignal(sig) is default:
                self.saved[sig] = signal.signal(sig, self.handle)
        try:
            yield
        finally:
            for sig, old in self.saved.items():
                signal.signal(sig, old)  # type: ignore[arg-type]

    def exit_code(self) -> int:
        return 143 if self.signum == signal.SIGTERM else 130


def _quiet_broken_pipe() -> int:
    """stdout's reader went away (`lmp preview ... | head`): stop quietly, as `cat` does. stdout is
    pointed at /dev/null so the interpreter's final flush does not raise again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    interrupts = _Interrupts()
    try:
        with _warnings_as_lines(args.debug), interrupts.installed():
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe surfaces here, inside the handler below, not at exit
        return interrupts.exit_code() if code == 130 else code
    except UsageError as exc:
        print(f"lmp {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return interrupts.exit_code()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        from lmp.cli.errors import render_error

        print(render_error(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    # `python -m lmp.cli.main` runs this file as __main__; the commands raise lmp.cli.main's UsageError,
    # which this copy's `except UsageError` would not catch (exit 1, "internal error"), so run that copy.
    from lmp.cli.main import main as _main

    raise SystemExit(_main())
