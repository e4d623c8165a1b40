"""`--engine spark` for `lmp run` and `lmp eval` (the flags, and the commands' Spark paths)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from lmp.cli.main import UsageError


def add_engine_flags(p: argparse.ArgumentParser, *, run: bool) -> None:
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: threads in this process (default); spark: the rows run on Apache Spark "
                   "(pip install 'lmp[spark]'; see docs/scale.md)")
    p.add_argument("--spark-master", default="local[*]", metavar="URL",
                   help="spark: the master URL (default local[*]; an active session, e.g. on Databricks, wins)")
    p.add_argument("--partitions", type=int, metavar="N",
                   help="spark: partitions the rows are split into (default: 4 x the cluster's cores); "
                   "--concurrency rows of each run at a time")
    if run:
        p.add_argument("--out", metavar="DIR", help="spark: results folder (Parquet in DIR/results: _row, _hash, "
                       "input, output, _error)")
        p.add_argument("--retry-failed", action="store_true",
                       help="spark: rerun only the rows of DIR/results that failed, are missing or whose input "
                       "changed; the others are kept")


def _spark_modules() -> tuple[Any, Any]:
    try:
        from lmp.spark import jobs, require_pyspark

        require_pyspark()
    except ImportError as exc:
        raise UsageError(f"--engine spark: {exc}") from None
    return jobs, require_pyspark


def _models(args: argparse.Namespace) -> dict[str, str]:
    from lmp.cli.cmd_run import model_overrides

    default, roles = model_overrides(args.model)
    return {**({"default": default} if default else {}), **roles}


def _cache(args: argparse.Namespace) -> bool | str:
    if args.no_cache:
        return False
    if args.spark_master.startswith("local"):
        # Executors are processes on this machine: share this directory's cache with local runs.
        from lmp.runtime.lm.cache import default_cache_dir

        return str(default_cache_dir().resolve())
    return True


def run_spark(args: argparse.Namespace) -> int:
    """`lmp run FILE [Module] --engine spark --input ROWS --out DIR`."""
    from lmp.cli.cmd_run import require_program

    if args.fields:
        raise UsageError("--engine spark runs a batch: use --input ROWS (.jsonl, .parquet or .csv), not -i")
    if not args.input or not args.out:
        raise UsageError("--engine spark needs --input ROWS (.jsonl, .parquet or .csv) and --out DIR")
    if args.partitions is not None and args.partitions < 1:
        raise UsageError("--partitions must be at least 1")
    require_program(args.program, "run")
    jobs, _ = _spark_modules()
    try:
        kind = jobs.input_kind(args.input)
    except jobs.SparkJobError as exc:
        raise UsageError(str(exc)) from None
    if "://" not in args.input and not os.path.exists(args.input):
        raise UsageError(f"no such input: {args.input}")
    from lmp.spark.udfs import make_bundle

    bundle, _ = make_bundle(args.program, args.module, state=args.state, models=_models(args), cache=_cache(args),
                            concurrency=max(1, args.concurrency))
    out = args.out if "://" in args.out else os.path.abspath(args.out)
    spark = jobs.session(args.spark_master, f"lmp run {os.path.basename(args.program)}")
    try:
        s = jobs.run_job(spark, bundle, args.input if "://" in args.input else os.path.abspath(args.input), out,
                         partitions=args.partitions, retry_failed=args.retry_failed)
    except jobs.SparkJobError as exc:
        raise UsageError(str(exc)) from None
    print(f"{s.ran} row(s) run ({s.skipped} already done) of {s.rows} [{kind}]: {s.done} with an output, "
          f"{s.failed} failed · LM calls {s.calls} (+{s.cached_calls} cached) · tokens {s.tokens} · "
          f"${s.cost:.4f} · {s.elapsed_s:.1f}s -> {s.results}", file=sys.stderr)
    for n, err in s.errors:
        print(f"  {args.input}:{n}: {err}", file=sys.stderr)
    if s.failed > len(s.errors):
        print(f"  ... and {s.failed - len(s.errors)} more; see {s.results} (rows with an _error)", file=sys.stderr)
    if s.failed:
        print("Rerun with --retry-failed to run only the failed rows (the others are kept).", file=sys.stderr)
    if s.missing:
        listed = ", ".join(map(str, s.missing[:10])) + (" ..." if len(s.missing) > 10 else "")
        print(f"error: {len(s.missing)} input row(s) do not have exactly one result in {s.results} (rows {listed}); "
              "rerun with --retry-failed to redo them", file=sys.stderr)
    return 1 if s.failed or s.missing else 0


def eval_spark(args: argparse.Namespace, handle: Any, module: str, examples: list[Any]) -> Any:
    """The rows of `lmp eval` scored on Spark; returns the local path's EvalResult."""
    if args.partitions is not None and args.partitions < 1:
        raise UsageError("--partitions must be at least 1")
    jobs, _ = _spark_modules()
    from lmp.spark.udfs import make_bundle

    state = args.state
    if state is None and handle.interpreter.state is not None:
        state = handle.interpreter.state.raw
    bundle, _ = make_bundle(args.program, module, state=state, models=_models(args), cache=_cache(args),
                            concurrency=max(1, args.concurrency))
    spark = jobs.session(args.spark_master, f"lmp eval {os.path.basename(args.program)}")
    result = jobs.evaluate_job(spark, bundle, examples, args.metric, partitions=args.partitions)
    if args.out:
        _write_eval_results(args.out, result)
    return result


def _write_eval_results(path: str, result: Any) -> None:
    """The same JSONL as a local `lmp eval --out` (one record per row, in row order)."""
    import json

    from lmp.optimize.runner import fingerprint

    fp = fingerprint(None)
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in result.results:
            fh.write(json.dumps(r.to_json(f"{fp}:{r.example.key}"), ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)
