"""Running `test` blocks: discover them in a Program, run each against its module or signature, judge
its expectations over the typed outputs.

Used by `lmp test`, by the language server's playground and Testing view, and by `--dev tests`
(lmp.optimize.tests_dev turns test blocks into dev examples).

In an expectation these names are bound (an output of the target with the same name wins):
- every output field of the target, by name (`category`, `answer`);
- `result`: the record of all outputs (`result.category`);
- `example`: the test's inputs plus the labels taken from its equalities on outputs
  (`expect category == "war"` labels `category`), for a metric `m(example, pred)`: `exact(example, result)`;
- `latency_ms`: the wall-clock time of the run, in milliseconds (float).

`expect` is a hard assertion: false (or an error evaluating it) fails the test. `check` is soft: reported,
never failing it. A run that raises (the model could not be reached, its answer did not parse into the
types, a tool failed) is status "error" with the error's message.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lmp.diagnostics import Span
from lmp.ir import nodes as ir
from lmp.ir.lower import constant
from lmp.ir.lower_tests import SPECIAL_NAMES, equality_labels
from lmp.secrets import scrub

__all__ = [
    "SPECIAL_NAMES", "ExpectationResult", "TestCase", "TestResult", "TestSummary", "discover",
    "equality_labels", "expr_text", "output_fields", "run_tests", "summarize",
]

STATUSES = ("pass", "fail", "error", "cancelled")


def span_dict(span: Span) -> dict[str, int]:
    """1-based line/column like `lmp check --format json`, plus 0-based offsets."""
    return {"line": span.line + 1, "column": span.col + 1, "end_line": span.end_line + 1,
            "end_column": span.end_col + 1, "start": span.start, "end": span.end}


def expr_text(program_text: str, span: Span) -> str:
    return program_text[span.start:span.end]


def _short(value: Any, limit: int = 80) -> str:
    from lmp.runtime.values import to_plain

    try:
        text = json.dumps(to_plain(value), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    text = scrub(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ discovery


@dataclass
class TestCase:
    """One `test` block, ready to run. `inputs` holds the constant values; `problem` says why the
    block cannot run (a non-constant input: the checker reports it as E143)."""

    __test__ = False  # not a pytest test class

    name: str
    target: str
    target_kind: str  # "module" | "signature" | "unknown"
    path: str
    span: Span
    inputs: dict[str, Any]
    block: ir.TestBlock
    labels: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    output_types: dict[str, str] = field(default_factory=dict)  # output field -> its type as written

    @property
    def id(self) -> str:
        return f"{self.path}::{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "target": self.target, "target_kind": self.target_kind,
                "path": self.path, "span": span_dict(self.span), "inputs": self.inputs, "labels": self.labels,
                "output_types": self.output_types,
                "expectations": [{"kind": e.kind, "span": span_dict(e.span)} for e in self.block.expectations],
                "problem": self.problem}


def output_fields(program: ir.Program, target: str) -> list[ir.Field] | None:
    """The outputs of a module (not a metric) or a signature; None when `target` is neither."""
    mod = program.modules.get(target)
    if mod is not None and not mod.is_metric:
        return list(mod.outputs)
    sig = program.signatures.get(target)
    if sig is not None:
        return list(sig.outputs)
    return None


def discover(program: ir.Program, pattern: str | None = None) -> list[TestCase]:
    """The test blocks of the program's own file, in source order (`pattern`: keep the tests whose name
    or `target::name` contains it, case-insensitive, like `pytest -k` without expressions)."""
    cases: list[TestCase] = []
    for block in program.tests:
        outputs = output_fields(program, block.target)
        kind = ("module" if block.target in program.modules else "signature") if outputs is not None else "unknown"
        inputs: dict[str, Any] = {}
        problem = None
        for kv in block.inputs:
            try:
                inputs[kv.name] = constant(kv.value)
            except ValueError:
                problem = f"input `{kv.name}` is not a constant"
        if outputs is None:
            problem = f"`{block.target}` is not a module or signature of {os.path.basename(program.path)}"
        case = TestCase(block.name, block.target, kind, block.path or program.path, block.span, inputs, block,
                        equality_labels(block, [f.name for f in outputs or []]), problem,
                        {f.name: f.type.render() for f in outputs or []})
        if pattern and pattern.lower() not in f"{case.target}::{case.name}".lower():
            continue
        cases.append(case)
    return cases


# ------------------------------------------------------------------ results


@dataclass
class ExpectationResult:
    kind: str  # "expect" | "check"
    source: str  # the expression as written
    span: Span
    passed: bool
    message: str  # empty when it passed; else what was seen ("`category` is "politics", expected "war"")

    @property
    def hard(self) -> bool:
        return self.kind == "expect"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "span": span_dict(self.span), "passed": self.passed,
                "message": self.message}


@dataclass
class TestResult:
    """One run of one test (one attempt of `repeat`, under one model set)."""

    __test__ = False

    case: TestCase
    status: str  # "pass" | "fail" | "error" | "cancelled"
    outputs: dict[str, Any] | None = None  # plain JSON values of the typed outputs
    expectations: list[ExpectationResult] = field(default_factory=list)
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost: float = 0.0
    calls: int = 0
    cache_hits: int = 0
    models: dict[str, str] = field(default_factory=dict)  # role overrides of this run ({} = as declared)
    model_ids: list[str] = field(default_factory=list)  # the models that answered (from the call records)
    attempt: int = 1
    # The model calls of this run, scrubbed (messages, response, params): the raw requests for a playground.
    records: list[Any] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return self.case.name

    @property
    def target(self) -> str:
        return self.case.target

    @property
    def span(self) -> Span:
        return self.case.span

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def failed_checks(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.passed and not e.hard]

    @property
    def failed_expects(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.passed and e.hard]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.case.id, "name": self.name, "target": self.target, "path": self.case.path,
                "span": span_dict(self.span), "status": self.status, "inputs": self.case.inputs,
                "outputs": self.outputs, "output_types": self.case.output_types,
                "expectations": [e.to_dict() for e in self.expectations],
                "error": self.error, "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
                "latency_ms": round(self.latency_ms, 1), "cost": self.cost, "calls": self.calls,
                "cache_hits": self.cache_hits, "models": self.models, "model_ids": self.model_ids,
                "attempt": self.attempt, "call_ids": [r.id for r in self.records]}


# ------------------------------------------------------------------ judging expectations


class _Judge:
    """Evaluates expectations with the interpreter's own expression semantics, explaining failures."""

    def __init__(self, interp: Any, case: TestCase, env: dict[str, Any]) -> None:
        from lmp.runtime.interpreter import Frame

        self.interp = interp
        self.text = interp.program.text if interp.program.path == case.path else _read(case.path)
        self.frame = Frame(ir.Module(f"<test {case.name}>"), env)

    def src(self, expr: ir.Expr) -> str:
        return expr_text(self.text, expr.span) if self.text else type(expr).__name__

    def explain(self, expr: ir.Expr) -> tuple[Any, str]:
        """(value, why it is false) for the expression."""
        if isinstance(expr, ir.Compare):
            left = self.interp.eval(expr.left, self.frame)
            right = self.interp.eval(expr.right, self.frame)
            value = self.interp._compare(expr, left, right)
            return value, self._sides(expr, left, right)
        if isinstance(expr, ir.BoolOp):
            left, why_left = self.explain(expr.left)
            if expr.op == "and":
                if not left:
                    return left, why_left
                return self.explain(expr.right)
            if left:
                return left, ""
            right, why_right = self.explain(expr.right)
            return right, f"{why_left}; and {why_right}" if why_left and why_right else why_left or why_right
        if isinstance(expr, ir.Not):
            value = self.interp.eval(expr.operand, self.frame)
            return (not value), f"`{self.src(expr.operand)}` is {_short(value)}"
        value = self.interp.eval(expr, self.frame)
        return value, f"`{self.src(expr)}` is {_short(value)}"

    def _sides(self, expr: ir.Compare, left: Any, right: Any) -> str:
        """Both values, then what each non-constant side was: `"politics" == "war" is false (`category` =
        "politics")`."""
        named = [f"`{self.src(side)}` = {_short(value)}" for side, value in ((expr.left, left), (expr.right, right))
                 if not isinstance(side, ir.Literal)]
        return f"{_short(left)} {expr.op} {_short(right)} is false" + (f" ({', '.join(named)})" if named else "")

    def judge(self, e: ir.Expectation) -> ExpectationResult:
        from lmp.runtime.errors import LmpRuntimeError

        source = self.src(e.expr)
        try:
            value, why = self.explain(e.expr)
        except LmpRuntimeError as exc:
            return ExpectationResult(e.kind, source, e.span, False, f"could not be evaluated: {scrub(str(exc))}")
        except Exception as exc:  # noqa: BLE001 - a metric or tool may fail in any way; the test reports it
            return ExpectationResult(e.kind, source, e.span, False,
                                     f"could not be evaluated: {type(exc).__name__}: {scrub(str(exc))}")
        if not isinstance(value, bool):
            return ExpectationResult(e.kind, source, e.span, False,
                                     f"is {_short(value)}, not true or false")
        return ExpectationResult(e.kind, source, e.span, value, "" if value else why)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


# ------------------------------------------------------------------ running


def _error_text(exc: BaseException) -> str:
    name = type(exc).__name__
    text = scrub(str(exc).strip()) or name
    if name.startswith("LM") or name in ("LmpRuntimeError", "DatasetError") or getattr(exc, "user_facing", False):
        return text
    return f"{name}: {text}"


def _run_one(interp: Any, case: TestCase, models: dict[str, str], attempt: int, fresh: bool) -> TestResult:
    from lmp.runtime import settings
    from lmp.runtime.lm.history import observe_calls, tag_calls
    from lmp.runtime.values import Prediction, Record, to_plain

    result = TestResult(case, "error", models=dict(models), attempt=attempt)
    if case.problem is not None:
        result.error = case.problem
        return result
    changes: dict[str, Any] = {}
    if models:
        changes["models"] = dict(models)
    if fresh:
        changes["cache"] = False  # repeats measure the model, not the cache
    start = time.perf_counter()
    # The test's name on each call record: `lmp history` shows which test made a call.
    with settings.context(**changes), observe_calls() as calls, tag_calls(test=case.name, file=case.path):
        try:
            pred = interp.run(case.target, dict(case.inputs))
            result.latency_ms = (time.perf_counter() - start) * 1000
            outputs = to_plain(pred.model_dump()) if isinstance(pred, Record) else to_plain(pred)
            result.outputs = outputs if isinstance(outputs, dict) else {"value": outputs}
            env: dict[str, Any] = {
                "result": pred if isinstance(pred, Prediction) else Prediction(dict(result.outputs)),
                "example": Record({**case.inputs, **case.labels}),
                "latency_ms": result.latency_ms,
            }
            env.update({k: pred[k] for k in pred.keys()} if isinstance(pred, Record) else {})
            judge = _Judge(interp, case, env)
            result.expectations = [judge.judge(e) for e in case.block.expectations]
            result.status = "fail" if result.failed_expects else "pass"
        except Exception as exc:  # noqa: BLE001 - one test's failure must not stop the others
            result.latency_ms = (time.perf_counter() - start) * 1000
            result.error = _error_text(exc)
            result.status = "error"
    result.records = list(calls)
    for rec in calls:
        result.calls += 1
        result.cache_hits += int(rec.cached)
        result.prompt_tokens += rec.prompt_tokens
        result.completion_tokens += rec.completion_tokens
        result.cost += rec.cost or 0.0
        if rec.model and rec.model not in result.model_ids:
            result.model_ids.append(rec.model)
    return result


def run_tests(
    program: ir.Program | Any,
    cases: Sequence[TestCase] | None = None,
    *,
    models: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    repeat: int = 1,
    concurrency: int = 4,
    on_result: Callable[[TestResult], None] | None = None,
    cancel: threading.Event | None = None,
    state: Any = None,
) -> list[TestResult]:
    """Run `cases` (default: every test of the program) and return one result per case, model set and
    attempt, ordered by case, then model set, then attempt.

    `program`: an `ir.Program` (an interpreter is built for it, applying `state` or the program's
    `<file>.state.json` like `lmp run`), an `lmp.api.ProgramHandle` or an `Interpreter`.
    `models`: role overrides (`{"default": "local"}`), or a list of them to run every case under each
    (side-by-side comparison). The cache is used as configured (on by default); with `repeat` > 1 the
    attempts after the first bypass it so that each is a real model call.
    `on_result(result)` is called from a worker thread as each result is ready. `cancel.set()` stops
    starting new runs; the ones running finish, the others are returned as status "cancelled".
    """
    interp = _interpreter(program, state)
    if cases is None:
        cases = discover(interp.program)
    model_sets: list[dict[str, str]]
    if models is None:
        model_sets = [{}]
    elif isinstance(models, Mapping):
        model_sets = [dict(models)]
    else:
        model_sets = [dict(m) for m in models] or [{}]
    jobs = [(case, ms, attempt) for case in cases for ms in model_sets for attempt in range(1, max(1, repeat) + 1)]
    results: list[TestResult | None] = [None] * len(jobs)

    stop = threading.Event()  # Ctrl-C in the caller: like `cancel`

    def work(i: int) -> None:
        case, ms, attempt = jobs[i]
        if stop.is_set() or (cancel is not None and cancel.is_set()):
            res = TestResult(case, "cancelled", models=dict(ms), attempt=attempt, error="cancelled")
        else:
            res = _run_one(interp, case, ms, attempt, fresh=attempt > 1)
        results[i] = res
        if on_result is not None:
            on_result(res)

    if not jobs:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(jobs))), thread_name_prefix="lmp-test")
    try:
        # Each job runs in a copy of the caller's context: `lmp.context(...)` settings apply to it.
        futures = [pool.submit(contextvars.copy_context().run, work, i) for i in range(len(jobs))]
        for f in futures:
            f.result()
    except KeyboardInterrupt:
        stop.set()  # the runs in flight finish; the others are not started
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    return [r for r in results if r is not None]


def _interpreter(program: Any, state: Any) -> Any:
    from lmp.runtime.interpreter import Interpreter

    if isinstance(program, Interpreter):
        return program
    inner = getattr(program, "interpreter", None)
    if isinstance(inner, Interpreter):
        return inner
    if not isinstance(program, ir.Program):
        raise TypeError(f"run_tests takes a Program, a ProgramHandle or an Interpreter, not {type(program).__name__}")
    if state is None and program.path:
        from lmp.runtime.state import default_state_path

        state = default_state_path(program.path)
    return Interpreter(program, state)


# ------------------------------------------------------------------ summaries


@dataclass
class TestSummary:
    """All attempts of one case under one model set."""

    __test__ = False

    case: TestCase
    models: dict[str, str]
    results: list[TestResult]

    @property
    def passed(self) -> int:
        return sum(r.status == "pass" for r in self.results)

    @property
    def pass_rate(self) -> float:
        return self.passed / len(self.results) if self.results else 0.0

    @property
    def status(self) -> str:
        """"pass" only when every attempt passed; else "error" if one errored, else "fail"."""
        statuses = {r.status for r in self.results}
        if statuses == {"pass"}:
            return "pass"
        for s in ("error", "fail", "cancelled"):
            if s in statuses:
                return s
        return "pass"


def summarize(results: Sequence[TestResult]) -> list[TestSummary]:
    out: dict[tuple[str, str], TestSummary] = {}
    for r in results:
        key = (r.case.id, json.dumps(r.models, sort_keys=True))
        if key not in out:
            out[key] = TestSummary(r.case, r.models, [])
        out[key].results.append(r)
    return list(out.values())
