"""The built-in `parallel(fn, items, max: 8, errors: "raise")`: run a predictor, module, tool or
retriever over a list concurrently, at most `max` at a time, results in input order.

Each item runs in a worker thread of a pool made for this call (like `lmp run --input`'s batch
runner: threads, because model calls block on HTTP), in a copy of the caller's context, so settings,
the model and call history are the caller's. A pool per call, not a shared one: an item may itself
call `parallel`, and nested waits on a shared bounded pool could deadlock. Each item's predictor
calls are traced into their own list and appended to the caller's trace in input order, so an
optimizer sees the same trace whatever order the items finished in.

Errors: `"raise"` (default) stops handing out items at the first failure, waits for the running
ones, and raises the failure of the earliest item (the message says which item); `"keep"` puts
`none` in place of each failed item's result and prints one warning line per failure to stderr.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from lmp.ir import nodes as ir
from lmp.ir.types import OptionalType
from lmp.runtime import trace
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.values import Record, describe
from lmp.secrets import scrub

if TYPE_CHECKING:
    from lmp.runtime.interpreter import Frame, Interpreter

DEFAULT_MAX = 8


def run_parallel(interp: Interpreter, expr: ir.Call, frame: Frame) -> list[Any]:
    where = interp._where(expr.span)
    if len(expr.args) != 2 or not isinstance(expr.args[0], ir.Name):
        raise LmpRuntimeError(f"{where}: parallel(fn, items, max: 8) takes the name of a predictor, module or "
                              "tool and a list")
    name = expr.args[0].id
    items = interp.eval(expr.args[1], frame)
    opts = {k.name: interp.eval(k.value, frame) for k in expr.kwargs}
    limit = opts.get("max", DEFAULT_MAX)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise LmpRuntimeError(f"{where}: parallel(): `max` must be a whole number of at least 1, got {limit!r}")
    errors = opts.get("errors", "raise")
    if errors not in ("raise", "keep"):
        raise LmpRuntimeError(f"{where}: parallel(): `errors` is \"raise\" or \"keep\", got {errors!r}")
    if not isinstance(items, list):
        raise LmpRuntimeError(f"{where}: parallel({name}, ...) runs over a list, got {describe(items)}")
    call, inputs = _callee(interp, name, frame, where)
    if not items:
        return []

    def one(index: int, item: Any) -> tuple[Any, list[trace.TraceEntry]]:
        with trace.collect() as entries:
            return call(_bind(item, inputs, name, index, where)), entries

    results: list[Any] = [None] * len(items)
    failures: dict[int, BaseException] = {}
    traces: dict[int, list[trace.TraceEntry]] = {}
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="lmp-parallel") as pool:
        pending = iter(enumerate(items))
        index_of: dict[Future[Any], int] = {}

        def submit_next() -> Future[Any] | None:
            for index, item in pending:
                ctx = contextvars.copy_context()
                fut = pool.submit(ctx.run, one, index, item)
                index_of[fut] = index
                return fut
            return None

        # Only `max` items are handed to the pool at a time, so that after a failure with
        # errors="raise" no further item starts (a pool queue would start them all).
        running = {f for f in (submit_next() for _ in range(min(limit, len(items)))) if f is not None}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                index = index_of[fut]
                try:
                    results[index], traces[index] = fut.result()
                except Exception as exc:  # noqa: BLE001 - collected, then raised or kept below
                    failures[index] = exc
                if failures and errors == "raise":
                    continue
                nxt = submit_next()
                if nxt is not None:
                    running.add(nxt)
    for index in sorted(traces):
        trace.record(traces[index])
    if failures and errors == "raise":
        index = min(failures)
        exc = failures[index]
        if type(exc) is LmpRuntimeError:
            raise LmpRuntimeError(f"{where}: parallel({name}): item {index}: {exc}") from exc
        exc.add_note(f"in parallel({name}), item {index} ({where})")  # model errors keep their class
        raise exc
    for index in sorted(failures):
        print(scrub(f"lmp: warning: parallel({name}): item {index} failed, result none: "
                    f"{type(failures[index]).__name__}: {failures[index]}"), file=sys.stderr)
    return results


Inputs = list[tuple[str, bool]]  # (name, required)


def _required(params: list[Any]) -> Inputs:
    return [(p.name, p.default is None and not isinstance(p.type, OptionalType)) for p in params]


def _callee(interp: Interpreter, name: str, frame: Frame,
            where: str) -> tuple[Callable[[dict[str, Any]], Any], Inputs]:
    """The function of one item's inputs, and the callee's inputs (name, required)."""
    pred_decl = frame.module.predictor(name)
    if pred_decl is not None:
        pred = interp.predictors.get(pred_decl.id)
        if pred is None:
            raise LmpRuntimeError(f"{where}: predictor `{name}` has no valid signature")
        return (lambda kw: interp.call_predictor(pred_decl.id, [], kw, None)), _required(pred.signature.inputs)
    prog = interp.program
    if name in prog.modules and not prog.modules[name].is_metric:
        mod = prog.modules[name]
        return (lambda kw: interp.call_module(
            mod, interp._bind_params(mod.params, [], kw, f"module {name}", None), frame.depth + 1)), \
            _required(mod.params)
    if name in prog.tools:
        return (lambda kw: interp.call_tool(name, [], kw, None)), _required(prog.tools[name].params)
    if name in prog.retrievers:
        return (lambda kw: interp.call_retriever(name, [], kw, None)), [("query", True), ("k", False)]
    raise LmpRuntimeError(f"{where}: parallel(): `{name}` is not a predictor, module, tool or retriever")


def _bind(item: Any, callee_inputs: Inputs, name: str, index: int, where: str) -> dict[str, Any]:
    """An item as the callee's inputs: a record naming them, or the value of the callee's one input
    (or its one required input), as the checker types it."""
    inputs = [n for n, _ in callee_inputs]
    required = [n for n, req in callee_inputs if req]
    single = inputs[0] if len(inputs) == 1 else required[0] if len(required) == 1 else None
    if isinstance(item, Record | dict) and item.keys() and set(item.keys()) <= set(inputs) and not (
            single is not None and len(inputs) == 1 and single not in item.keys()):
        return {k: item[k] for k in item.keys()}
    if single is not None:
        return {single: item}
    raise LmpRuntimeError(f"{where}: parallel({name}): item {index} is {describe(item)}; `{name}` takes "
                          f"{', '.join(inputs)}: pass records naming them")
