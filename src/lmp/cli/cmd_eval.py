"""`lmp eval prog.lmp [Module] --dev dev.jsonl --metric NAME`: score a module on a dataset."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a module on a JSONL dataset with a metric (table, score with CI, cost)",
                       description="Run a module over a dev set, score every prediction with a metric, print a "
                       "table, the score with a 95% confidence interval, LM calls, tokens and cost.",
                       epilog="Exit codes: 0 every row was scored; 1 a row failed (a program or metric error; it "
                       "scores 0 and is reported) or more than --max-errors rows failed; 2 bad usage; 130 "
                       "interrupted (rerun with the same --out to resume).")
    p.add_argument("program", help="the .lmp file")
    p.add_argument("module", nargs="?", help="module, or signature run on its own, to evaluate (default: the only module)")
    p.add_argument("--dev", required=True, metavar="DEV.jsonl",
                   help="one JSON object per line: inputs and gold outputs; `tests`: the program's test blocks for "
                   "the module (gold outputs from their `expect FIELD == value` lines)")
    p.add_argument("--metric", required=True, metavar="NAME",
                   help="exact_match, normalized_match, f1, contains, numeric[@TOL] (NAME:FIELD for one field), "
                   "or a metric declared in the program")
    p.add_argument("--state", metavar="STATE.json", help="optimized instructions/demos to apply")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="rows in flight (default 4)")
    p.add_argument("--out", metavar="RESULTS.jsonl", help="keep every result; a rerun resumes from it")
    p.add_argument("--model", action="append", default=[], metavar="ROLE=ID", help="model for a role")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate the first N rows only")
    p.add_argument("--rows", type=int, default=50, metavar="N", help="table rows to print (default 50, 0: none)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--max-errors", type=int, metavar="N",
                   help="stop once more than N rows have failed (default: half the rows, rounded down). Any "
                   "failed row makes the exit code 1, after the table and summary are printed")
    from lmp.cli.spark_engine import add_engine_flags

    add_engine_flags(p, run=False)
    p.set_defaults(func=run)


def load_for(args: argparse.Namespace, default_state: bool = True) -> tuple[object, str]:
    """Load the program; `--state` is validated against the schema and the signatures (lmp.optimize.state).
    default_state=False: ignore `<prog>.state.json` (optimize starts from the program as written)."""
    from lmp.api import load
    from lmp.cli.cmd_run import choose_module, configure_cli, require_program

    require_program(args.program, args.command)
    configure_cli(args, source="eval")
    state = getattr(args, "state", None)
    handle = load(args.program, state=None)
    interp = handle.interpreter
    if interp.state is not None and (state or not default_state):
        for p in interp.predictors.values():
            p.instructions, p.demos = None, []
        interp.state = None
    elif interp.state is not None:
        print(f"using state {interp.state.path}", file=sys.stderr)
    if state:
        from lmp.optimize.state import load_state

        handle.load_state(load_state(state, handle.program, strict=True).to_dict())
    return handle, choose_module(handle.program, args.module)


def run(args: argparse.Namespace) -> int:
    import json

    from lmp.optimize.evaluate import evaluate, format_summary, format_table
    from lmp.optimize.metrics import resolve_metric
    from lmp.optimize.runner import Runner
    from lmp.optimize.tests_dev import load_dev

    handle, module = load_for(args)
    metric = resolve_metric(args.metric, handle)
    mod = handle.interpreter.module(module)  # a module, or a signature run on its own
    examples = load_dev(args.dev, handle.program, module, mod, require_gold=metric.needs_gold)
    if args.limit:
        examples = examples[: args.limit]
    runner = Runner(handle, module)
    # Keep the state applied by --state: the runner's baseline is the program as loaded.
    # The CLI's default cap is half the rows as documented (the library's default, at least 10, is for
    # optimizer trials on small sets).
    cap = args.max_errors if args.max_errors is not None else len(examples) // 2
    if getattr(args, "engine", "local") == "spark":
        # Every row runs on the executors; the driver aggregates (same table, CI and totals).
        from lmp.cli.spark_engine import eval_spark

        result = eval_spark(args, handle, module, examples)
    else:
        result = evaluate(runner, examples, metric, None, concurrency=args.concurrency, progress=None,
                          out=args.out, max_errors=cap, raise_when_complete=False)
    failed = len(result.failed)
    if args.json:
        print(json.dumps({"metric": metric.name, "score": result.score, "ci": list(result.ci), "n": result.n,
                          "calls": result.calls, "cached_calls": result.cached_calls, "tokens": result.tokens,
                          "cost": result.cost, "failed": failed}, indent=2))
        return 1 if failed else 0
    if args.rows:
        print(format_table(result, limit=args.rows))
        print()
    print(format_summary(result, metric.name))
    if args.out:
        print(f"results: {args.out}", file=sys.stderr)
    return 1 if failed else 0
