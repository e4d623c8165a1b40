"""`lmp run prog.lmp [Module] -i field=value ... | --input rows.jsonl --output out.jsonl`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from lmp.cli.main import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a module on inputs (or a JSONL batch) and print its typed outputs",
                       description="Run a module (or one signature on its own) of a .lmp program. Single run: -i field=value ...; batch: "
                       "--input rows.jsonl (resumable: rerun after Ctrl-C skips finished rows).",
                       epilog="Batch output: one record per input row, numbered by its line in ROWS.jsonl (`_row`, "
                       "from 1), with `output` or `error`. A line that is not a JSON object is reported with its line "
                       "number and recorded as a failed row; the other rows run. Keys that are not inputs of the "
                       "module are named in one warning. A half-written last line left by a killed run is cut off "
                       "before resuming, and at the end every row must have exactly one record. Exit codes: 0 every "
                       "row succeeded; 1 a row failed, a line was not a JSON object, or a row has no single record; "
                       "2 bad usage (e.g. an -i value that does not fit its type); 130 interrupted (rerun to resume).")
    p.add_argument("program", help="the .lmp file")
    p.add_argument("module", nargs="?", help="module, or signature run on its own, to run (default: the only module)")
    p.add_argument("-i", dest="fields", action="append", default=[], metavar="FIELD=VALUE",
                   help="an input value, read by the input's declared type: text as typed for str; one of the "
                   "members for a literal union; a number for int/float; true/false for bool; JSON for lists, "
                   "dicts and records (e.g. -i 'tags=[\"a\", \"b\"]'); null for an optional; for an Image a file path "
                   "(relative to the working directory), an http(s) URL (passed to the model as is) or a data: URI "
                   "(e.g. -i photo=cat.png); for a History a JSON list of turns (e.g. -i 'history=[{\"role\": "
                   "\"user\", \"content\": \"hi\"}]'). Repeat for each input")
    p.add_argument("--json", action="store_true", help="print the outputs as JSON")
    p.add_argument("--input", metavar="ROWS.jsonl", help="batch: one JSON object of inputs per line")
    p.add_argument("--output", metavar="OUT.jsonl", help="batch results (default: ROWS.out.jsonl)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="batch: rows in flight (default 4)")
    p.add_argument("--state", metavar="STATE.json", help="optimized instructions/demos (default: <prog>.state.json if present)")
    p.add_argument("--model", action="append", default=[], metavar="ROLE=ID",
                   help="model for a role, e.g. --model default=openai/gpt-4o-mini (ID alone: the default role)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("--trace", action="store_true", help="print every model call (messages, response, tokens) to stderr")
    p.add_argument("--stream", action="store_true",
                   help="print each output field as it arrives: str fields (reasoning first) as their text grows, "
                   "typed fields once complete and valid; with --json, one JSON event per line")
    from lmp.cli.spark_engine import add_engine_flags

    add_engine_flags(p, run=True)
    p.set_defaults(func=run)


def require_program(path: str, command: str = "run") -> None:
    """A usage error unless `path` is a file; for a folder, name the programs in it that have modules."""
    if os.path.isdir(path):
        from lmp.cli.cmd_check import collect_files
        from lmp.ir.project import load_ir

        found: list[str] = []
        files = collect_files([path])
        for f in files[:50]:
            program = load_ir(f).program
            modules = [n for n, m in program.modules.items() if not m.is_metric and m.path == program.path]
            if modules:
                found.append(f"  {os.path.relpath(f)}  ({', '.join(modules)})")
        listing = ("; its programs with modules:\n" + "\n".join(found)) if found else (
            f"; it holds no .lmp file with a module ({len(files)} .lmp file(s) found)")
        usage = "FILE.lmp PREDICTOR" if command == "preview" else "FILE.lmp [Module]"
        raise UsageError(f"{path} is a folder: lmp {command} takes one .lmp file, e.g. `lmp {command} {usage}`"
                         f"{listing}")
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")


def model_overrides(values: list[str]) -> tuple[str | None, dict[str, str]]:
    default: str | None = None
    roles: dict[str, str] = {}
    for v in values:
        role, sep, model = v.partition("=")
        if not sep:
            default = v
        elif not role or not model:
            raise UsageError(f"--model expects ROLE=ID, got {v!r}")
        else:
            roles[role] = model
    return default, roles


def choose_module(program: Any, name: str | None) -> str:
    from lmp.ir.nodes import EntryPointError

    try:
        return str(program.entry_module(name))
    except EntryPointError as exc:
        raise UsageError(str(exc)) from None


def configure_cli(args: argparse.Namespace, source: str = "run") -> Any:
    from lmp.runtime import settings
    from lmp.runtime.lm.history import History

    default, roles = model_overrides(args.model)
    hist = History(History.default_file(), source=source)
    settings.configure(model=default, models=roles, cache=not args.no_cache, history=hist)
    return hist


def run(args: argparse.Namespace) -> int:
    from lmp.api import load
    from lmp.runtime.inputs import InputValueError, parse_assignments

    if getattr(args, "engine", "local") == "spark":
        from lmp.cli.spark_engine import run_spark

        return run_spark(args)
    if getattr(args, "out", None) or getattr(args, "retry_failed", False):
        raise UsageError("--out DIR and --retry-failed are for --engine spark; a local batch writes --output "
                         "FILE and a rerun of the same command retries its failed rows")
    require_program(args.program, "run")
    hist = configure_cli(args)
    handle = load(args.program, state=args.state)
    module = choose_module(handle.program, args.module)
    mod = handle.interpreter.module(module)
    before = len(hist)
    try:
        if args.input:
            if args.fields:
                raise UsageError("use either -i FIELD=VALUE or --input ROWS.jsonl, not both")
            if args.stream:
                raise UsageError("--stream shows one run as it happens; a batch (--input) writes whole rows")
            return _batch(handle, module, args)
        try:
            inputs = parse_assignments(args.fields, mod)
        except InputValueError as exc:
            raise UsageError(str(exc)) from None
        if args.stream:
            from lmp.cli.run_stream import print_stream
            from lmp.runtime.streaming import stream_module

            print_stream(stream_module(handle.interpreter, module, inputs), args.json)
            return 0
        result = handle.interpreter.run(module, inputs)
    finally:
        if args.trace:
            print_trace(hist.records()[before:])
    print_result(result.model_dump(), args.json)
    return 0


def print_result(data: dict[str, Any], as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if "\n" in text:
            print(f"{key}:")
            for line in text.splitlines():
                print(f"  {line}")
        else:
            print(f"{key}: {text}")


def print_trace(records: list[Any]) -> None:
    from lmp.runtime.lm.constrain import describe_call
    from lmp.runtime.lm.tool_calls import describe_message

    for n, r in enumerate(records, 1):
        status = "cached" if r.cached else f"{r.latency_s:.2f}s"
        head = (f"── call {n}: {r.model} · {r.predictor or '-'} · {r.prompt_tokens}+{r.completion_tokens} tokens · "
                f"${r.cost:.4f} · {status}")
        head += describe_call(getattr(r, "constraint", None), getattr(r, "finish_reason", None))
        if getattr(r, "tools", None):
            head += " · native tools: " + ", ".join(r.tools.get("names") or [])
        print(head, file=sys.stderr)
        for m in r.messages:
            print(f"  [{m['role']}]", file=sys.stderr)
            for line in describe_message(m).splitlines():
                print(f"    {line}", file=sys.stderr)
        print("  [response]" if r.error is None else "  [error]", file=sys.stderr)
        for line in (r.response if r.error is None else r.error or "").splitlines():
            print(f"    {line}", file=sys.stderr)
        for call in getattr(r, "tool_calls", None) or []:  # native tool calls (ReAct)
            print(f"    -> {call.get('name')}({call.get('arguments')})  [{call.get('id')}]", file=sys.stderr)
        if getattr(r, "coercions", None):
            print("  [coercions]", file=sys.stderr)
            for note in r.coercions:
                print(f"    {note}", file=sys.stderr)


def _batch(handle: Any, module: str, args: argparse.Namespace) -> int:
    from lmp.runtime.batch import read_rows, run_batch

    rows = read_rows(args.input)
    base = args.input[:-6] if args.input.endswith(".jsonl") else args.input
    output = args.output or base + ".out.jsonl"
    params = handle.interpreter.module(module).params
    keys = {p.name for p in params}
    for row in rows:
        if row.error is not None:
            print(f"{args.input}:{row.number}: {row.error} (recorded as a failed row; the other rows run)",
                  file=sys.stderr)
    unknown: dict[str, int] = {}
    for row in rows:
        for k in row.data or {}:
            if k not in keys:
                unknown[k] = unknown.get(k, 0) + 1
    if unknown:
        listed = ", ".join(f"`{k}` ({n} row{'s' if n > 1 else ''})" for k, n in unknown.items())
        print(f"warning: {args.input}: {'this key is' if len(unknown) == 1 else 'these keys are'} not an input "
              f"of {module} and {'is' if len(unknown) == 1 else 'are'} not passed to it: {listed}; its inputs are "
              f"{', '.join(p.name for p in params) or '(none)'}", file=sys.stderr)
    summary = run_batch(lambda inputs: handle.interpreter.run(module, inputs), rows, output,
                        concurrency=args.concurrency, input_keys=keys)
    msg = (f"{summary.done} row(s) done, {summary.skipped} already done, {summary.failed} failed "
           f"in {summary.elapsed_s:.1f}s -> {output}")
    if summary.torn_tail:
        print(f"note: {output} ended in a half-written line (a run was killed mid-write); it was cut off and that "
              "row is run again", file=sys.stderr)
    if summary.interrupted:
        print(f"interrupted: {msg}. Rerun the same command to resume.", file=sys.stderr)
        return 130
    print(msg, file=sys.stderr)
    shown = 5
    for n, err in summary.errors[:shown]:
        print(f"  {args.input}:{n}: {err}", file=sys.stderr)
    if len(summary.errors) > shown:
        print(f"  ... and {len(summary.errors) - shown} more; see {output} (records with an \"error\")",
              file=sys.stderr)
    if summary.failed:
        print("Rerun the same command to retry the failed rows (finished rows are kept).", file=sys.stderr)
    if summary.missing:
        rows_text = ", ".join(map(str, summary.missing[:10])) + (" ..." if len(summary.missing) > 10 else "")
        print(f"error: {len(summary.missing)} input row(s) do not have exactly one result in {output} (rows "
              f"{rows_text}); rerun the same command to redo them", file=sys.stderr)
    return 1 if summary.failed or summary.missing else 0
