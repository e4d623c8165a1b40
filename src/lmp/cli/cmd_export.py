"""`lmp export mlflow prog.lmp --state s.json -o model_dir`: package a program for MLflow."""

from __future__ import annotations

import argparse
import os
import sys

from lmp.cli.main import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="package a program for a serving platform (mlflow)",
                       description="Export a program to a deployable artifact. See docs/deploy.md.")
    targets = p.add_subparsers(dest="target", metavar="TARGET")
    m = targets.add_parser(
        "mlflow", help="an MLflow pyfunc model directory (program source + state JSON; no pickle)",
        description="Write an MLflow pyfunc model: the .lmp source and its imports, the state JSON and the "
        "lmp version pin, loaded by lmp.deploy.mlflow_pyfunc.LmpPythonModel. Needs pip install 'lmp[mlflow]'.")
    m.add_argument("program", help="the .lmp file")
    m.add_argument("module", nargs="?", help="module to serve (default: the only module)")
    m.add_argument("-o", "--output", required=True, metavar="MODEL_DIR", help="directory to create")
    m.add_argument("--state", metavar="STATE.json", help="optimized state (default: <prog>.state.json if present)")
    m.add_argument("--model", action="append", default=[], metavar="ROLE=ID",
                   help="model for a role in the exported model (LMP_MODEL_<ROLE> at serving time overrides it)")
    m.add_argument("--lmp-requirement", metavar="SPEC",
                   help="pip requirement for lmp in the model's environment (default: lmp==<this version>; "
                   "e.g. a wheel path or a VCS URL when lmp is not on your index)")
    m.add_argument("--requirement", action="append", default=[], metavar="SPEC",
                   help="extra pip requirement (e.g. a package your tools import); repeatable")
    m.add_argument("--include", action="append", default=[], metavar="PATH",
                   help="extra file or folder next to the program to ship (e.g. a retriever corpus); repeatable")
    m.add_argument("--code-path", action="append", default=[], metavar="PATH",
                   help="Python file or package to ship as MLflow code (e.g. your tool functions); repeatable")
    m.add_argument("--cache", action="store_true", help="let the exported model use lmp's response cache")
    m.add_argument("--no-signature", action="store_true", help="do not attach an MLflow signature")
    m.add_argument("--allow-secrets", action="store_true",
                   help="export even when the program holds a literal key (refused otherwise; warns)")
    m.set_defaults(func=run_mlflow)
    p.set_defaults(func=lambda args: (_ for _ in ()).throw(UsageError("name a target: lmp export mlflow ...")))


def run_mlflow(args: argparse.Namespace) -> int:
    from lmp.cli.cmd_run import model_overrides

    if not os.path.exists(args.program):
        raise UsageError(f"no such file: {args.program}")
    try:
        import mlflow  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        raise UsageError("MLflow is not installed: pip install 'lmp[mlflow]'") from None
    from lmp.deploy.mlflow_export import ExportError, export_mlflow

    default, roles = model_overrides(args.model)
    if default:
        roles.setdefault("default", default)
    import warnings

    from lmp.deploy.mlflow_export import SecretsExportedWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SecretsExportedWarning)
            out = export_mlflow(args.program, args.output, state=args.state, module=args.module, models=roles,
                                lmp_requirement=args.lmp_requirement, extra_requirements=args.requirement,
                                include=args.include, code_paths=args.code_path, cache=args.cache,
                                signature=not args.no_signature, allow_secrets=args.allow_secrets)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    for w in caught:
        if issubclass(w.category, SecretsExportedWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    print(f"wrote MLflow model {out}")
    print(f"  try:   python -c \"import mlflow, pandas; m = mlflow.pyfunc.load_model('{out}'); "
          "print(m.predict(pandas.DataFrame([{...}])))\"")
    print(f"  serve: mlflow models serve -m {out} --env-manager local --port 5000")
    return 0
