"""`lmp test [PATH...]`: run the `test` blocks of .lmp programs (docs/cli.md#lmp-test)."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import threading
from typing import Any

from lmp.cli.main import UsageError

_TEST_LINE = re.compile(r"^test\b", re.MULTILINE)  # a test block, even one a syntax error removed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("test", help="run the `test` blocks of .lmp programs: table of results, exit 1 on a failed expect",
                       description="Run the `test` blocks of .lmp files (folders are searched for *.lmp; the "
                       "programs are checked first). Each test runs its module or signature on its inputs (with the "
                       "program's state file and the response cache, like `lmp run`); `expect` lines must hold, "
                       "`check` lines are only reported. Prints a table per file (status, outputs, tokens, latency, "
                       "cost; each failed line with both sides' values) and a summary line; a progress bar with an "
                       "ETA on a terminal. The model calls are kept in `lmp history` (shown as `test NAME`). "
                       "See docs/language.md#test for the syntax.",
                       epilog="Exit codes: 0 every `expect` held (failed `check`s do not count); 1 an `expect` failed "
                       "or a test errored (e.g. the model could not be reached); 2 bad usage, no test found, or a "
                       "file with tests has check errors (printed like `lmp check`); 130 interrupted.")
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH", help=".lmp files or folders (default: .)")
    p.add_argument("-k", dest="pattern", metavar="PATTERN",
                   help="only the tests whose `TARGET::NAME` contains PATTERN (case-insensitive)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="tests in flight (default 4)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run each test N times and report its pass rate (runs after the first bypass the cache)")
    p.add_argument("--model", action="append", default=[], metavar="ROLE=ID",
                   help="model for a role (ID alone: the default role). Given more than once for one role, every "
                   "test runs against each model and the results are shown side by side")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML (for CI)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.set_defaults(func=run)


# ------------------------------------------------------------------ options


def model_sets(values: list[str]) -> list[dict[str, str]]:
    """`--model` values -> the role overrides of each run: one set, or one per combination when a role is
    given several models (`default=a default=b` -> [{default: a}, {default: b}])."""
    per_role: dict[str, list[str]] = {}
    for v in values:
        role, sep, model = v.partition("=")
        if not sep:
            role, model = "default", v
        elif not role or not model:
            raise UsageError(f"--model expects ROLE=ID, got {v!r}")
        ids = per_role.setdefault(role, [])
        if model not in ids:
            ids.append(model)
    if not per_role:
        return [{}]
    roles = list(per_role)
    return [dict(zip(roles, combo, strict=True)) for combo in itertools.product(*(per_role[r] for r in roles))]


def model_label(models: dict[str, str]) -> str:
    label = ", ".join(f"{role}={' '.join(model.split())}" for role, model in models.items()) or "as declared"
    return label if len(label) <= 60 else label[:59] + "…"


# ------------------------------------------------------------------ loading


def load_tests(paths: list[str], pattern: str | None) -> tuple[list[tuple[Any, list[Any]]], list[Any], dict[str, str]]:
    """[(program, its cases)], the error diagnostics of the files that have tests (imports included) and the
    sources (for printing them)."""
    from lmp.cli.cmd_check import collect_files
    from lmp.project import load_program
    from lmp.runtime.testing import discover

    files = collect_files(paths)
    if not files:
        raise UsageError("no .lmp files found in " + ", ".join(paths))
    found: list[tuple[Any, list[Any]]] = []
    errors: list[Any] = []
    sources: dict[str, str] = {}
    seen: set[tuple[str | None, int, str]] = set()
    for f in files:
        loaded = load_program(f)
        if not loaded.program.tests and not _TEST_LINE.search(loaded.program.text):
            continue  # a file without tests (a shared import, a scratch file) does not block the others
        for path, prog in loaded.files.items():
            sources[path] = prog.text
        for d in loaded.errors:
            if (d.path, d.span.start, d.code) not in seen:
                seen.add((d.path, d.span.start, d.code))
                errors.append(d)
        cases = discover(loaded.program, pattern)
        if cases:
            found.append((loaded.program, cases))
    return found, errors, sources


# ------------------------------------------------------------------ rendering


def _short(values: Any, width: int) -> str:
    if values is None:
        return ""
    if isinstance(values, dict):
        text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in values.items()
                         if k != "reasoning")
    else:
        text = json.dumps(values, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _status(summary: Any, repeat: int) -> str:
    word = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "cancelled": "cancelled"}[summary.status]
    if repeat > 1:
        return f"{word} {summary.passed}/{len(summary.results)}"
    return word


def _latency(ms: float) -> str:
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{ms:.0f}ms"


def _where(case: Any, span: Any) -> str:
    path = os.path.relpath(case.path) if os.path.isabs(case.path) else case.path
    return f"{path}:{span.line + 1}"


def details(summary: Any, label: str | None, repeat: int) -> list[str]:
    """Failed expectations, failed checks and errors of a test, each once (with how many attempts saw it)."""
    lines: list[str] = []
    prefix = f"[{label}] " if label else ""
    counts: dict[str, int] = {}
    order: list[str] = []
    for r in summary.results:
        items = [f"error: {r.error}"] if r.error and r.status in ("error", "cancelled") else []
        for e in r.expectations:
            if not e.passed:
                mark = "✗ expect" if e.hard else "~ check"
                soft = "" if e.hard else " (soft)"
                items.append(f"{mark} {e.source}  ({_where(r.case, e.span)}): {e.message}{soft}")
        for item in items:
            if item not in counts:
                order.append(item)
                counts[item] = 0
            counts[item] += 1
    for item in order:
        times = f" [{counts[item]}/{len(summary.results)} runs]" if repeat > 1 else ""
        lines.append(f"    {prefix}{item}{times}")
    return lines


def render_table(summaries: list[Any], sets: list[dict[str, str]], repeat: int, width: int = 110) -> str:
    from lmp.runtime.testing import summarize  # noqa: F401 - summaries come from it

    out: list[str] = []
    by_file: dict[str, list[Any]] = {}
    for s in summaries:
        by_file.setdefault(s.case.path, []).append(s)
    name_w = max([len(f"{s.case.target}::{s.case.name}") for s in summaries] + [4])
    name_w = min(name_w, 40)
    for path, items in by_file.items():
        out.append(os.path.relpath(path) if os.path.isabs(path) else path)
        if len(sets) == 1:
            out.append(f"  {'TEST':<{name_w}}  {'STATUS':<10} {'OUTPUTS':<40} {'TOKENS':>7} {'LATENCY':>8} {'COST':>9}")
            for s in items:
                res = s.results
                tokens = sum(r.tokens for r in res) // max(1, len(res))
                latency = sum(r.latency_ms for r in res) / max(1, len(res))
                cost = sum(r.cost for r in res) / max(1, len(res))
                outputs = next((r.outputs for r in reversed(res) if r.outputs is not None), None)
                cached = " (cached)" if res and all(r.calls and r.cache_hits == r.calls for r in res) else ""
                name = f"{s.case.target}::{s.case.name}"[:name_w]
                out.append(f"  {name:<{name_w}}  {_status(s, repeat):<10} {_short(outputs, 40):<40} {tokens:>7} "
                           f"{_latency(latency):>8} {f'${cost:.4f}':>9}{cached}")
                out += details(s, None, repeat)
        else:
            labels = [model_label(m) for m in sets]
            col = max(20, min(50, (width - name_w - 4) // len(sets)))
            out.append(f"  {'TEST':<{name_w}}  " + " ".join(f"{lab[:col]:<{col}}" for lab in labels))
            per_case: dict[str, dict[str, Any]] = {}
            for s in items:
                per_case.setdefault(s.case.id, {})[model_label(s.models)] = s
            for by_model in per_case.values():
                first = next(iter(by_model.values()))
                name = f"{first.case.target}::{first.case.name}"[:name_w]
                cells = []
                for lab in labels:
                    s = by_model.get(lab)
                    if s is None:
                        cells.append(f"{'-':<{col}}")
                        continue
                    outputs = next((r.outputs for r in reversed(s.results) if r.outputs is not None), None)
                    lat = sum(r.latency_ms for r in s.results) / max(1, len(s.results))
                    cell = f"{_status(s, repeat)} {_latency(lat)} {_short(outputs, col)}"
                    cells.append(f"{_short(cell, col) if len(cell) > col else cell:<{col}}")
                out.append(f"  {name:<{name_w}}  " + " ".join(cells))
                for lab in labels:
                    if lab in by_model:
                        out += details(by_model[lab], lab, repeat)
        out.append("")
    return "\n".join(line.rstrip() for line in out).rstrip("\n")


def summary_line(results: list[Any], summaries: list[Any], elapsed: float) -> str:
    counts = {k: sum(s.status == k for s in summaries) for k in ("pass", "fail", "error", "cancelled")}
    soft = sum(len(r.failed_checks) for r in results)
    calls = sum(r.calls for r in results)
    cached = sum(r.cache_hits for r in results)
    tokens = sum(r.tokens for r in results)
    cost = sum(r.cost for r in results)
    parts = [f"{counts['pass']} passed", f"{counts['fail']} failed", f"{counts['error']} errors"]
    if counts["cancelled"]:
        parts.append(f"{counts['cancelled']} cancelled")
    if soft:
        parts.append(f"{soft} soft check(s) failed")
    head = "ok" if not (counts["fail"] or counts["error"] or counts["cancelled"]) else "failed"
    return (f"{head}: " + ", ".join(parts) + f" · LM calls: {calls - cached} (+{cached} cached) · tokens: {tokens} · "
            f"cost: ${cost:.4f} · {elapsed:.1f}s")


# ------------------------------------------------------------------ JUnit


def junit_xml(results: list[Any], sets: list[dict[str, str]], repeat: int, elapsed: float) -> str:
    """JUnit XML in the common (Ant / Windy Road junit-10.xsd) shape: one <testsuite> per file with the
    required attributes, one <testcase> per run with at most one <failure> or <error>; outputs and failed
    soft checks go to the suite's <system-out>."""
    import datetime
    import platform
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="lmp test")
    by_file: dict[str, list[Any]] = {}
    for r in results:
        by_file.setdefault(r.case.path, []).append(r)
    stamp = datetime.datetime.now(datetime.UTC).replace(microsecond=0, tzinfo=None).isoformat()
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for i, (path, items) in enumerate(by_file.items()):
        suite = ET.SubElement(root, "testsuite", name=os.path.basename(path), package="lmp", id=str(i),
                              tests=str(len(items)), failures=str(sum(r.status == "fail" for r in items)),
                              errors=str(sum(r.status in ("error", "cancelled") for r in items)),
                              time=f"{sum(r.latency_ms for r in items) / 1000:.3f}", timestamp=stamp,
                              hostname=platform.node() or "localhost")
        totals["tests"] += len(items)
        totals["failures"] += int(suite.get("failures") or 0)
        totals["errors"] += int(suite.get("errors") or 0)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="file", value=path)
        log: list[str] = []
        for r in items:
            name = r.case.name
            if len(sets) > 1:
                name += f" [{model_label(r.models)}]"
            if repeat > 1:
                name += f" (run {r.attempt}/{repeat})"
            case = ET.SubElement(suite, "testcase", name=name, classname=f"{os.path.splitext(os.path.basename(path))[0]}"
                                 f".{r.case.target}", time=f"{r.latency_ms / 1000:.3f}")
            failed = r.failed_expects
            if r.status in ("error", "cancelled"):
                el = ET.SubElement(case, "error", message=r.error or r.status, type=r.status)
                el.text = r.error or r.status
            elif failed:
                el = ET.SubElement(case, "failure", message=f"expect {failed[0].source}: {failed[0].message}",
                                   type="expect")
                el.text = "\n".join(f"expect {e.source} ({_where(r.case, e.span)}): {e.message}" for e in failed)
            log.append(f"{name}: {r.status}; outputs {json.dumps(r.outputs, ensure_ascii=False, default=str)}; "
                       f"tokens {r.tokens}; latency {r.latency_ms:.0f} ms; cost ${r.cost:.4f}")
            log += [f"  check {e.source} ({_where(r.case, e.span)}): {e.message} (soft)" for e in r.failed_checks]
        ET.SubElement(suite, "system-out").text = "\n".join(log)
        ET.SubElement(suite, "system-err").text = ""
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", f"{elapsed:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------ command


def run(args: argparse.Namespace) -> int:
    import time

    from lmp.runtime import settings
    from lmp.runtime.batch import Progress
    from lmp.runtime.lm.history import History
    from lmp.runtime.testing import run_tests, summarize

    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    sets = model_sets(args.model)
    found, errors, sources = load_tests(args.paths, args.pattern)
    if errors:
        from lmp.cli.render import print_diagnostics

        print_diagnostics(errors, sources, "text")
        print(f"failed: {len(sources)} file(s) checked, {len(errors)} error(s); fix them to run the tests")
        return 2
    if not found:
        what = f" matching -k {args.pattern!r}" if args.pattern else ""
        raise UsageError(f"no test blocks{what} found in " + ", ".join(args.paths)
                         + " (write `test NAME for TARGET { ... }`, see docs/language.md#test)")
    settings.configure(cache=not args.no_cache, history=History(History.default_file(), source="test"))
    total = sum(len(cases) for _, cases in found) * len(sets) * args.repeat
    bar = Progress(total, label="testing ", unit="tests")
    lock = threading.Lock()
    results: list[Any] = []

    def on_result(r: Any) -> None:
        with lock:
            results.append(r)
            bar.update(r.status == "pass", f" · {r.case.name}")

    start = time.perf_counter()
    interrupted = False
    try:
        for program, cases in found:
            run_tests(program, cases, models=sets, repeat=args.repeat, concurrency=args.concurrency,
                      on_result=on_result)
    except KeyboardInterrupt:
        interrupted = True
    bar.close()
    elapsed = time.perf_counter() - start
    order = {(c.id, json.dumps(m, sort_keys=True), a): i for i, (c, m, a) in enumerate(
        (c, m, a) for _, cases in found for c in cases for m in sets for a in range(1, args.repeat + 1))}
    results.sort(key=lambda r: order.get((r.case.id, json.dumps(r.models, sort_keys=True), r.attempt), 0))
    summaries = summarize(results)
    if args.junit:
        with open(args.junit, "w", encoding="utf-8") as fh:
            fh.write(junit_xml(results, sets, args.repeat, elapsed))
    if args.json:
        payload = {
            "version": 1,
            "results": [r.to_dict() for r in results],
            "tests": [{"id": s.case.id, "name": s.case.name, "target": s.case.target, "models": s.models,
                       "status": s.status, "passed": s.passed, "runs": len(s.results), "pass_rate": s.pass_rate}
                      for s in summaries],
            "summary": {k: sum(s.status == k for s in summaries) for k in ("pass", "fail", "error", "cancelled")},
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        print(render_table(summaries, sets, args.repeat))
        print(summary_line(results, summaries, elapsed))
        if args.junit:
            print(f"junit: {args.junit}", file=sys.stderr)
    if interrupted:
        print("interrupted: the tests not started were skipped", file=sys.stderr)
        return 130
    return 1 if any(s.status in ("fail", "error") for s in summaries) else 0
