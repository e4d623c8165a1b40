"""`lmp optimize prog.lmp [Module] --train train.jsonl --metric M --optimizer NAME -o prog.state.json`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from lmp.cli.main import UsageError

OPTIMIZERS = ["labeled", "bootstrap", "random-search", "knn", "copro", "mipro", "ensemble", "gepa"]
# Optimizers with an `auto` preset (--budget light|medium|heavy) and a multi-objective setting (--objective).
PRESET_OPTIMIZERS = ("gepa", "mipro")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimize", help="tune the instructions and demos of every predictor against a metric",
                       description="Optimize a module's predictors (instructions, demos) on a training set; "
                       "prints progress per trial, resumes after a crash or Ctrl-C (rerun the same command), "
                       "and ends with a before/after comparison on dev.",
                       epilog="Exit codes: 0 the state file was written; 1 an error, or the optimizer set no demos "
                       "or instructions for any predictor (a warning names each predictor and what the training "
                       "rows lack, e.g. a retriever's `context`: label it in the rows or use bootstrap); 2 bad "
                       "usage; 130 interrupted (rerun the same command to continue).")
    p.add_argument("program", help="the .lmp file")
    p.add_argument("module", nargs="?", help="module to optimize (default: the only module)")
    p.add_argument("--train", required=True, metavar="TRAIN.jsonl")
    p.add_argument("--dev", metavar="DEV.jsonl", help="selection and before/after set (default: the training set); "
                   "`tests`: the program's test blocks for the module")
    p.add_argument("--metric", required=True, metavar="NAME", help="a built-in metric or one declared in the program")
    p.add_argument("--optimizer", default="bootstrap", choices=OPTIMIZERS)
    p.add_argument("--prompt-model", metavar="ROLE_OR_MODEL",
                   help="model that proposes instructions (copro, mipro) or teaches (teacher=prompt_model)")
    p.add_argument("--budget", metavar="BUDGET",
                   help="stop searching at a limit: N or calls=N (uncached model calls), tokens=N, cost=USD, "
                   "comma-separated; or light|medium|heavy (gepa, mipro presets)")
    p.add_argument("--objective", metavar="NAME=WEIGHT,...",
                   help="gepa, mipro: select by a weighted sum, e.g. accuracy=1,prompt_tokens=-0.001 (accuracy, "
                   "prompt_tokens, completion_tokens, latency, or a numeric field of a feedback metric)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="optimizer setting, e.g. --set max_bootstrapped_demos=8 --set auto=medium (JSON values)")
    p.add_argument("--members", nargs="+", metavar="STATE.json", help="ensemble: the state files to combine")
    p.add_argument("--concurrency", type=int, default=4, metavar="N")
    p.add_argument("--model", action="append", default=[], metavar="ROLE=ID", help="model for a role")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("-o", "--output", metavar="STATE.json", help="state file (default: <prog>.state.json)")
    p.add_argument("--report", metavar="REPORT.html",
                   help="write the run's trajectory (score per trial, candidates and Pareto frontier, cost per phase, "
                   "instruction diffs) as HTML and the same data as JSON beside it (plots need lmp[report])")
    p.add_argument("--plan", action="store_true",
                   help="print the projected LM calls, tokens and dollars per phase, then exit without calling a model")
    p.set_defaults(func=run)


def parse_settings(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from lmp.cli.cmd_eval import load_for
    from lmp.optimize.data import load_dataset
    from lmp.optimize.metrics import resolve_metric
    from lmp.optimize.run import checkpoint_path, optimize
    from lmp.optimize.tests_dev import load_dev

    handle, module = load_for(args, default_state=False)
    metric = resolve_metric(args.metric, handle)
    if module not in handle.program.modules and module in handle.program.signatures:
        users = sorted({p.id.split(".")[0] for p in handle.interpreter.predictors_over(module)})
        raise UsageError(f"`{module}` is a signature; lmp optimize tunes the predictors of a module"
                         + (f": optimize {' or '.join(users)}, which use{'s' if len(users) == 1 else ''} it"
                            if users else ""))
    mod = handle.interpreter.module(module)
    train = load_dataset(args.train, mod, require_gold=metric.needs_gold)
    dev = load_dev(args.dev, handle.program, module, mod, require_gold=metric.needs_gold) if args.dev else None
    settings = parse_settings(args.settings)
    if args.members:
        if args.optimizer != "ensemble":
            raise UsageError("--members is for --optimizer ensemble")
        settings["members"] = [os.path.abspath(m) for m in args.members]
    spec = _budget_and_objective(args, settings)
    if args.plan:
        from lmp.optimize.plan import make_plan

        plan = make_plan(handle, module, args.optimizer, settings, train, dev, metric=metric,
                         prompt_model=args.prompt_model, budget=spec.calls)
        print(plan.format())
        return 0
    base = args.program[:-4] if args.program.endswith(".lmp") else args.program
    output = args.output or base + ".state.json"
    print(f"optimizing {module} with {args.optimizer} on {len(train)} train / "
          f"{len(dev) if dev else str(len(train)) + ' (train)'} dev rows; metric {metric.name}"
          + (f"; budget {spec.describe()}" if args.budget else ""), file=sys.stderr)
    from lmp.optimize.context import Reporter

    reporter = Reporter()
    try:
        res = optimize(handle, optimizer=args.optimizer, trainset=train, devset=dev, metric=metric, module=module,
                       output=output, settings=settings, seed=args.seed, budget=spec if spec.limited else None,
                       prompt_model=args.prompt_model, concurrency=args.concurrency, progress=None,
                       reporter=reporter)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished work is kept in {checkpoint_path(output)}; rerun the same command to "
              "continue", file=sys.stderr)
        return 130
    print_comparison(res, metric.name, output)
    print_trajectory(res, handle, module, args, metric.name, reporter, output)
    if not any(ps.demos or ps.instructions or ps.knn or ps.ensemble for ps in res.state.predictors.values()):
        # An empty state is the program as written: reporting it as a result would hide that the
        # optimizer had nothing to work with (e.g. training rows without a retriever's `context`).
        print(f"error: no demos or instructions were set for any predictor of {module}; {output} changes "
              "nothing (see the warnings above for what the training rows lack)", file=sys.stderr)
        return 1
    return 0


def _budget_and_objective(args: argparse.Namespace, settings: dict[str, Any]) -> Any:
    """`--budget` as a BudgetSpec (a preset becomes the optimizer's `auto`) and `--objective` as a setting."""
    from lmp.optimize.budget import BudgetSpecError, parse_budget
    from lmp.optimize.objectives import ObjectiveError, parse_objective

    try:
        spec = parse_budget(args.budget)
        if args.objective:
            parse_objective(args.objective)
    except (BudgetSpecError, ObjectiveError) as exc:
        raise UsageError(str(exc)) from None
    if spec.preset:
        if args.optimizer not in PRESET_OPTIMIZERS:
            raise UsageError(f"--budget {spec.preset} is a preset of {' and '.join(PRESET_OPTIMIZERS)}; for "
                             f"{args.optimizer} give calls=N, tokens=N or cost=USD")
        settings.setdefault("auto", spec.preset)
    if args.objective:
        if args.optimizer not in PRESET_OPTIMIZERS:
            raise UsageError(f"--objective is for {' and '.join(PRESET_OPTIMIZERS)}, not {args.optimizer}")
        settings["objective"] = args.objective
    return spec


def print_trajectory(res: Any, handle: Any, module: str, args: argparse.Namespace, metric: str, reporter: Any,
                     output: str) -> None:
    """The terminal summary of the trajectory (always), and the HTML/JSON report with --report."""
    from lmp.optimize.report import report_data, summary, write_report

    data = report_data(res, handle=handle, module=module, optimizer=args.optimizer, metric=metric,
                       proposals=reporter.proposals, state_path=output)
    text = summary(data)
    if text:
        print(text)
    if args.report:
        html_path, json_path, plotted = write_report(data, args.report)
        print(f"report written to {html_path} (data: {json_path})")
        if not plotted:
            print("note: the report has tables but no plots: matplotlib is not installed "
                  "(pip install 'lmp[report]')", file=sys.stderr)


def print_comparison(res: Any, metric: str, output: str) -> None:
    s = res.state
    print(f"\n{'':<12}{metric:>12}")
    for label, value in (("before", res.before), ("after", res.after)):
        failed = s.scores.get(f"dev_{label}_failed")
        print(f"{'dev ' + label:<12}{_f(value):>12}" + (f"  ({failed} row(s) failed, scored 0)" if failed else ""))
    if res.before is not None and res.after is not None:
        print(f"{'change':<12}{(res.after - res.before) * 100:>+11.1f}pt")
    cost = s.cost
    per_point = f" · {cost['calls_per_point']} calls per point gained" if cost.get("calls_per_point") else ""
    print(f"\nLM calls: {res.calls} (+{res.cached_calls} cached, free) · tokens: {res.tokens} · "
          f"cost: ${res.cost:.4f}{per_point}")
    if getattr(res, "phases", None):
        from lmp.optimize.costs import format_table

        print("\n" + format_table(res.phases) + "\n")
    for pid, ps in sorted(s.predictors.items()):
        aug = sum(1 for d in ps.demos if d.get("augmented"))
        extra = f", knn pool {len(ps.knn['pool'])} (k={ps.knn['k']})" if ps.knn else ""
        extra += f", ensemble of {len(ps.ensemble)}" if ps.ensemble else ""
        instr = f", instructions: {ps.instructions!r}" if ps.instructions else ""
        print(f"  {pid}: {len(ps.demos)} demos ({aug} bootstrapped){extra}{instr[:160]}")
    if s.scores.get("dev_is_train"):
        print("note: no --dev given; scores are on the training set (optimistic)")
    print(f"state written to {output}")
    if res.before is not None and res.after is not None and res.after < res.before:
        # Written anyway (it is the optimizer's result, and diff-state/preview need it), but a user
        # must not ship it unknowingly.
        print(f"warning: the optimized program scored LOWER on dev than the unoptimized one "
              f"({_f(res.before)} -> {_f(res.after)}). Run without --state to keep the baseline, or try more "
              "training rows or another optimizer; `lmp diff-state` shows what changed.", file=sys.stderr)


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
