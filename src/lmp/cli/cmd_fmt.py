"""`lmp fmt FILE_OR_DIR... [--check] [--diff]`: write .lmp files in their canonical layout."""

from __future__ import annotations

import argparse
import sys

from lmp.cli.main import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fmt", help="format .lmp files in place (--check for CI)",
        description="Rewrite .lmp files in their canonical layout (directories are searched recursively). "
                    "Comments are kept; a file whose formatting would change its meaning is left alone. "
                    "Exit 0 when done, 1 when a file has syntax errors (or, with --check, would change), "
                    "2 on usage errors.")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="files or directories; `-` reads stdin "
                   "and writes the result to stdout")
    p.add_argument("--check", action="store_true",
                   help="change nothing; list the files that would change and exit 1 if there are any")
    p.add_argument("--diff", action="store_true", help="change nothing; print a unified diff of the changes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import difflib

    from lmp.cli.cmd_check import collect_files
    from lmp.fmt import FormatError, format_source
    from lmp.ir.project import SourceError, read_source

    if args.paths == ["-"]:
        text = sys.stdin.read()
        try:
            out = format_source(text, "<stdin>")
        except FormatError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if args.check:
            return 0 if out == text else 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), out.splitlines(keepends=True), "<stdin>", "<stdin> (formatted)"))
            return 0
        sys.stdout.write(out)
        return 0
    if "-" in args.paths:
        raise UsageError("`-` (stdin) cannot be mixed with files")
    files = collect_files(args.paths)
    if not files:
        raise UsageError("no .lmp files found in " + ", ".join(args.paths))
    failed = changed = 0
    for f in files:
        shown = _shown(f)
        try:
            text = read_source(f)
        except (OSError, SourceError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        try:
            out = format_source(text, shown)
        except FormatError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if out == text:
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), out.splitlines(keepends=True), shown, shown + " (formatted)"))
        if args.check:
            if not args.diff:
                print(f"would reformat {shown}")
        elif not args.diff:
            with open(f, "w", encoding="utf-8", newline="") as fh:
                fh.write(out)
            print(f"formatted {shown}")
    verb = "would reformat" if (args.check or args.diff) else "reformatted"
    summary = f"{len(files)} file(s): {changed} {verb}, {len(files) - changed - failed} unchanged"
    if failed:
        summary += f", {failed} with errors"
    print(summary, file=sys.stderr)
    if failed:
        return 1
    return 1 if args.check and changed else 0


def _shown(path: str) -> str:
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel
