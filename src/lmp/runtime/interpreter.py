"""The interpreter: runs Module IR exactly as the checker understood it.

A run is a tree of frames (one per module call) over one shared, read-mostly `Interpreter`:
predictors, tools and retrievers are built once per program and reused by every call and thread.
Values flowing from models, tools and callers are checked against their IR types at run time,
because those are the places a static checker cannot see.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lmp.ir import nodes as ir
from lmp.ir.types import INT, STR, OptionalType, RecordType, Type
from lmp.runtime import settings, trace
from lmp.runtime.builtins import BUILTINS
from lmp.runtime.errors import LMOutputError, LmpRuntimeError
from lmp.runtime.lm.base import LM, LMError
from lmp.runtime.parallel import run_parallel
from lmp.runtime.predictors import PredictorRuntime, ToolSpec
from lmp.runtime.retrievers import as_retriever, bm25_from_source, passages
from lmp.runtime.state import RuntimeState, check_against, read_state, warn_all
from lmp.runtime.values import Prediction, Record, check_value, describe, to_plain, wrap

MAX_DEPTH = 64
_path_lock = threading.Lock()


class _Return(Exception):  # noqa: N818 - control flow, never escapes the interpreter
    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass
class Frame:
    module: ir.Module
    env: dict[str, Any] = field(default_factory=dict)
    depth: int = 0


_RUN_POOL: ThreadPoolExecutor | None = None
_RUN_POOL_LOCK = threading.Lock()


def _run_pool() -> ThreadPoolExecutor:
    global _RUN_POOL
    with _RUN_POOL_LOCK:
        if _RUN_POOL is None:
            _RUN_POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="lmp-run")
        return _RUN_POOL


class Interpreter:
    def __init__(self, program: ir.Program, state: Any = None) -> None:
        self.program = program
        self.base_dir = os.path.dirname(os.path.abspath(program.path)) if program.path else os.getcwd()
        self.predictors: dict[str, PredictorRuntime] = {}
        self._lock = threading.Lock()
        self._tools: dict[str, Callable[..., Any]] = {}
        self._retrievers: dict[str, Callable[[str, int], list[str]]] = {}
        self.state: RuntimeState | None = None
        # Signatures called directly (`prog.ClassifyEvent(...)`, `lmp run f.lmp ClassifyEvent`): the
        # module each one stands for, and the predictor that answers it.
        self._signature_calls: dict[str, tuple[ir.Module, PredictorRuntime]] = {}
        for module in program.modules.values():
            for p in module.predictors:
                if p.signature is None:
                    continue
                self.predictors[p.id] = PredictorRuntime(
                    p.id, p.kind, p.signature, p.model_role, self._options(p), host=self)
        if state is not None:
            self.apply_state(state)

    # ------------------------------------------------------------------ state and models

    def apply_state(self, state: Any) -> RuntimeState:
        rs = read_state(state)
        warn_all(check_against(rs, self.program))
        for pid, ps in rs.predictors.items():
            pred = self.predictors.get(pid)
            if pred is None:
                continue
            if ps.instructions is not None:
                pred.instructions = ps.instructions
            pred.demos = list(ps.demos)
        self.state = rs
        return rs

    def lm_for(self, role: str | None) -> LM:
        return settings.lm_for(self.program, role)

    def _options(self, p: ir.Predictor) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kw in p.options:
            if kw.name == "tools" and isinstance(kw.value, ir.ListExpr):
                out["tools"] = [x.id if isinstance(x, ir.Name) else f"{x.obj.id}.{x.name}"
                                if isinstance(x, ir.Attribute) and isinstance(x.obj, ir.Name) else self._const(x)
                                for x in kw.value.items]
            elif kw.name == "reward" and isinstance(kw.value, ir.Name):
                out["reward"] = kw.value.id
            else:
                out[kw.name] = self._const(kw.value)
        return out

    def _const(self, expr: ir.Expr) -> Any:
        return self.eval(expr, Frame(ir.Module("<options>")))

    # ------------------------------------------------------------------ entry points

    def module(self, name: str) -> ir.Module:
        """The module `name`, or for a signature the one-predictor module that calls it."""
        mod = self.program.modules.get(name)
        if mod is not None and not mod.is_metric:
            return mod
        if name in self.program.signatures:
            return self.signature_call(name)[0]
        raise LmpRuntimeError(f"`{name}` is not a module or signature of {os.path.basename(self.program.path)}; "
                              f"{self.entry_points()}")

    def entry_points(self) -> str:
        """What can be run, for an error about a name that cannot: `its modules are: ...; its signatures: ...`."""
        names = ", ".join(n for n, m in self.program.modules.items() if not m.is_metric) or "(none)"
        sigs = ", ".join(self.program.signatures)
        return f"its modules are: {names}" + (f"; its signatures: {sigs}" if sigs else "")

    def predictors_over(self, name: str) -> list[PredictorRuntime]:
        """The program's predictors declared over the signature `name` (by reference, not a copy)."""
        sig = self.program.signatures.get(name)
        return [p for p in self.predictors.values() if sig is not None and p.signature is sig]

    def signature_call(self, name: str) -> tuple[ir.Module, PredictorRuntime]:
        """A signature run on its own. If exactly one predictor of the program is declared over it,
        that predictor answers (its kind, model role and optimized instructions and demos), so a
        state file applies; otherwise a plain `Predict` with the signature as written does."""
        with self._lock:
            found = self._signature_calls.get(name)
            if found is None:
                sig = self.program.signatures[name]
                users = self.predictors_over(name)
                pred = users[0] if len(users) == 1 else PredictorRuntime(name, "Predict", sig, None, {}, host=self)
                mod = ir.Module(
                    name, span=sig.span, name_span=sig.name_span, path=sig.path,
                    params=[ir.Param(f.name, f.type, f.default, f.span, f.type_span) for f in sig.inputs],
                    outputs=list(sig.outputs),
                )
                found = self._signature_calls[name] = (mod, pred)
        return found

    def run(self, module_name: str, inputs: dict[str, Any] | None = None, **kw: Any) -> Prediction:
        """Run a module with checked inputs; returns its declared outputs as a Prediction."""
        mod = self.module(module_name)
        return self.call_module(mod, self.bind_inputs(mod, {**(inputs or {}), **kw}), depth=0)

    async def arun(self, module_name: str, inputs: dict[str, Any] | None = None, **kw: Any) -> Prediction:
        # Model calls block on HTTP; a worker thread (with this task's settings context) keeps the
        # event loop free, and asyncio.gather over many runs gives real concurrency.
        # Not asyncio.to_thread: its default pool has min(32, cpus + 4) threads (6 here), which
        # would cap concurrent runs far below what a batch or the HTTP server asks for.
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        call = functools.partial(ctx.run, self.run, module_name, inputs, **kw)
        return await loop.run_in_executor(_run_pool(), call)

    def run_metric(self, name: str, example: Any, pred: Any) -> Any:
        metric = self.program.modules.get(name)
        if metric is None or not metric.is_metric:
            raise LmpRuntimeError(f"`{name}` is not a metric of {os.path.basename(self.program.path)}")
        args = [self._as_record(example), self._as_record(pred, Prediction)]
        env = {p.name: a for p, a in zip(metric.params, args, strict=False)}
        return self.call_module(metric, env, depth=0)

    def call_metric(self, name: str, example: Record, pred: Prediction) -> float:
        value = self.run_metric(name, example, pred)
        if isinstance(value, Record) and isinstance(to_plain(value).get("score"), int | float):
            value = to_plain(value)["score"]  # a feedback metric (`-> (score: float, feedback: str)`)
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float):
            return float(value)
        raise LmpRuntimeError(f"metric `{name}` returned {describe(value)}; a reward metric returns bool, float or a record with a `score`")

    @staticmethod
    def _as_record(value: Any, cls: type[Record] = Record) -> Any:
        if isinstance(value, Record):
            return value
        if isinstance(value, dict):
            return cls(dict(value))
        return value

    def bind_inputs(self, mod: ir.Module, inputs: dict[str, Any]) -> dict[str, Any]:
        known = {p.name for p in mod.params}
        unknown = [k for k in inputs if k not in known]
        if unknown:
            raise LmpRuntimeError(
                f"{mod.name} has no input {', '.join(f'`{u}`' for u in unknown)}; its inputs are: "
                f"{self._param_list(mod)}")
        env: dict[str, Any] = {}
        for p in mod.params:
            if p.name in inputs:
                value = inputs[p.name]
            elif p.default is not None:
                value = self.eval(p.default, Frame(mod))
            elif isinstance(p.type, OptionalType):
                value = None
            else:
                raise LmpRuntimeError(f"{mod.name} needs the input `{p.name}` ({p.type.render()}); pass it "
                                      f"as -i {p.name}=... (CLI) or {p.name}=... (Python). Inputs: {self._param_list(mod)}")
            try:
                env[p.name] = check_value(value, p.type)
            except TypeError as exc:
                raise LmpRuntimeError(f"input `{p.name}` of {mod.name}: {exc}") from None
        return env

    @staticmethod
    def _param_list(mod: ir.Module) -> str:
        return ", ".join(f"{p.name}: {p.type.render()}" for p in mod.params) or "(none)"

    # ------------------------------------------------------------------ modules and statements

    def call_module(self, mod: ir.Module, env: dict[str, Any], depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise LmpRuntimeError(f"modules call each other more than {MAX_DEPTH} levels deep (in {mod.name}); "
                                  "check for unbounded recursion")
        call = self._signature_calls.get(mod.name)
        if call is not None and call[0] is mod:
            return self._finish(mod, trace.call(call[1], env))
        frame = Frame(mod, dict(env), depth)
        try:
            self.exec_block(mod.body, frame)
        except _Return as ret:
            return self._finish(mod, ret.value)
        return self._finish(mod, None)

    def _finish(self, mod: ir.Module, value: Any) -> Any:
        if mod.is_metric:
            return value
        if not mod.outputs:
            return value
        if value is None:
            raise LmpRuntimeError(f"module {mod.name} ended without returning its outputs "
                                  f"({', '.join(f.name for f in mod.outputs)})")
        if not isinstance(value, Record | dict):
            if len(mod.outputs) != 1:
                raise LmpRuntimeError(f"module {mod.name} returned {describe(value)}, not its outputs")
            value = {mod.outputs[0].name: value}
        out: dict[str, Any] = {}
        for f in mod.outputs:
            if f.name not in value:
                if isinstance(f.type, OptionalType):
                    out[f.name] = None
                    continue
                raise LmpRuntimeError(f"module {mod.name} returned no `{f.name}` (it returned: "
                                      f"{', '.join(value.keys())})")
            try:
                out[f.name] = check_value(value[f.name], f.type)
            except TypeError as exc:
                raise LmpRuntimeError(f"output `{f.name}` of {mod.name}: {exc}") from None
        return Prediction(out)

    def exec_block(self, body: list[ir.Stmt], frame: Frame) -> None:
        for stmt in body:
            self.exec(stmt, frame)

    def exec(self, stmt: ir.Stmt, frame: Frame) -> None:
        try:
            self._exec(stmt, frame)
        except (_Return, LmpRuntimeError, LMOutputError, LMError):
            raise
        except Exception as exc:  # noqa: BLE001 - Python errors become located lmp errors
            raise LmpRuntimeError(f"{self._where(stmt.span)}: {type(exc).__name__}: {exc}") from exc

    def _exec(self, stmt: ir.Stmt, frame: Frame) -> None:
        if isinstance(stmt, ir.Assign):
            value = self.eval(stmt.value, frame)
            if stmt.annotation is not None:
                value = self._checked(value, stmt.annotation, f"`{stmt.target}`", stmt.span)
            frame.env[stmt.target] = value
        elif isinstance(stmt, ir.AugAssign):
            if stmt.target not in frame.env:
                raise LmpRuntimeError(f"{self._where(stmt.span)}: `{stmt.target}` is used before it is assigned")
            frame.env[stmt.target] = self._augment(frame.env[stmt.target], self.eval(stmt.value, frame), stmt)
        elif isinstance(stmt, ir.For):
            iterable = self.eval(stmt.iter, frame)
            if isinstance(iterable, Record | dict):
                iterable = list(iterable.keys())
            if not isinstance(iterable, list | str | tuple):
                raise LmpRuntimeError(f"{self._where(stmt.iter.span)}: cannot loop over {describe(iterable)}")
            for item in list(iterable):
                frame.env[stmt.var] = item
                self.exec_block(stmt.body, frame)
        elif isinstance(stmt, ir.If):
            for branch in stmt.branches:
                if self.eval(branch.cond, frame):
                    self.exec_block(branch.body, frame)
                    return
            if stmt.orelse is not None:
                self.exec_block(stmt.orelse, frame)
        elif isinstance(stmt, ir.Return):
            raise _Return(self.eval(stmt.value, frame) if stmt.value is not None else None)
        elif isinstance(stmt, ir.ExprStmt):
            self.eval(stmt.expr, frame)
        elif isinstance(stmt, ir.LetStmt):
            pass  # predictors are built once per program in __init__

    def _augment(self, current: Any, value: Any, stmt: ir.AugAssign) -> Any:
        if isinstance(current, list):
            # A new list, never mutation: a list passed in by the caller must not change under it.
            return [*current, *value] if isinstance(value, list) else [*current, value]
        if isinstance(current, str) and isinstance(value, str):
            return current + value
        if isinstance(current, int | float) and isinstance(value, int | float) and not isinstance(value, bool):
            return current + value
        raise LmpRuntimeError(f"{self._where(stmt.span)}: cannot add {describe(value)} to `{stmt.target}` "
                              f"({describe(current)})")

    # ------------------------------------------------------------------ expressions

    def eval(self, expr: ir.Expr, frame: Frame) -> Any:
        if isinstance(expr, ir.Literal):
            return expr.value
        if isinstance(expr, ir.Name):
            return self._lookup(expr, frame)
        if isinstance(expr, ir.ListExpr):
            return [self.eval(x, frame) for x in expr.items]
        if isinstance(expr, ir.RecordExpr):
            return Record({f.name: self.eval(f.value, frame) for f in expr.fields})
        if isinstance(expr, ir.Attribute):
            return self._attribute(self.eval(expr.obj, frame), expr)
        if isinstance(expr, ir.Index):
            obj, index = self.eval(expr.obj, frame), self.eval(expr.index, frame)
            try:
                return obj[index]
            except (IndexError, KeyError, TypeError):
                raise LmpRuntimeError(f"{self._where(expr.span)}: no element {index!r} in {describe(obj)}") from None
        if isinstance(expr, ir.Call):
            return self._call(expr, frame)
        if isinstance(expr, ir.BinOp):
            return self._binop(expr, self.eval(expr.left, frame), self.eval(expr.right, frame))
        if isinstance(expr, ir.Compare):
            return self._compare(expr, self.eval(expr.left, frame), self.eval(expr.right, frame))
        if isinstance(expr, ir.BoolOp):
            left = self.eval(expr.left, frame)
            if expr.op == "and":
                return self.eval(expr.right, frame) if left else left
            return left if left else self.eval(expr.right, frame)
        if isinstance(expr, ir.Not):
            return not self.eval(expr.operand, frame)
        if isinstance(expr, ir.Neg):
            return -self.eval(expr.operand, frame)
        raise LmpRuntimeError(f"{self._where(expr.span)}: cannot evaluate {type(expr).__name__}")

    def _lookup(self, expr: ir.Name, frame: Frame) -> Any:
        if expr.id in frame.env:
            return frame.env[expr.id]
        raise LmpRuntimeError(f"{self._where(expr.span)}: `{expr.id}` has no value here (used before it is "
                              "assigned, or not a variable)")

    def _attribute(self, obj: Any, expr: ir.Attribute) -> Any:
        if isinstance(obj, Record):
            if expr.name in obj:
                return obj[expr.name]
            raise LmpRuntimeError(f"{self._where(expr.span)}: no field `{expr.name}`; the fields are: "
                                  f"{', '.join(obj.keys())}")
        if isinstance(obj, dict) and expr.name in obj:
            return obj[expr.name]
        raise LmpRuntimeError(f"{self._where(expr.span)}: {describe(obj)} has no field `{expr.name}`")

    def _binop(self, expr: ir.BinOp, left: Any, right: Any) -> Any:
        try:
            if expr.op == "+":
                return left + right
            if expr.op == "-":
                return left - right
            if expr.op == "*":
                return left * right
            if expr.op == "/":
                return left / right
            if expr.op == "%":
                return left % right
        except ZeroDivisionError:
            raise LmpRuntimeError(f"{self._where(expr.span)}: division by zero") from None
        except TypeError:
            raise LmpRuntimeError(f"{self._where(expr.span)}: cannot apply `{expr.op}` to {describe(left)} and "
                                  f"{describe(right)}") from None
        raise LmpRuntimeError(f"{self._where(expr.span)}: unknown operator {expr.op}")

    def _compare(self, expr: ir.Compare, left: Any, right: Any) -> bool:
        left, right = to_plain(left), to_plain(right)
        op = expr.op
        try:
            if op == "==":
                return bool(left == right)
            if op == "!=":
                return bool(left != right)
            if op == "<":
                return bool(left < right)
            if op == "<=":
                return bool(left <= right)
            if op == ">":
                return bool(left > right)
            if op == ">=":
                return bool(left >= right)
            if op == "in":
                return left in right
            if op == "not in":
                return left not in right
            if op == "contains":
                return right in left
        except TypeError:
            raise LmpRuntimeError(f"{self._where(expr.span)}: cannot compare {describe(left)} with "
                                  f"{describe(right)} using `{op}`") from None
        raise LmpRuntimeError(f"{self._where(expr.span)}: unknown comparison {op}")

    # ------------------------------------------------------------------ calls

    def _call(self, expr: ir.Call, frame: Frame) -> Any:
        func = expr.func
        if isinstance(func, ir.Attribute) and isinstance(func.obj, ir.Name) and func.obj.id in self.program.tool_servers:
            from lmp.runtime import mcp_tools  # `Server.tool(args)`: an MCP server's tool

            return mcp_tools.call_tool(self, self.program.tool_servers[func.obj.id], func.name,
                                       [self.eval(a, frame) for a in expr.args],
                                       {k.name: self.eval(k.value, frame) for k in expr.kwargs}, expr.span)
        if not isinstance(expr.func, ir.Name):
            raise LmpRuntimeError(f"{self._where(expr.span)}: only named things can be called")
        name = expr.func.id
        if name == "parallel" and frame.module.predictor(name) is None and name not in self.program.tools \
                and name not in self.program.modules:
            return run_parallel(self, expr, frame)  # its first argument names a callee, not a value
        args = [self.eval(a, frame) for a in expr.args]
        kwargs = {k.name: self.eval(k.value, frame) for k in expr.kwargs}
        pred_decl = frame.module.predictor(name)
        if pred_decl is not None:
            return self.call_predictor(pred_decl.id, args, kwargs, expr.span)
        if name in self.program.tools:
            return self.call_tool(name, args, kwargs, expr.span)
        if name in self.program.retrievers:
            return self.call_retriever(name, args, kwargs, expr.span)
        if name in self.program.modules:
            mod = self.program.modules[name]
            if mod.is_metric:
                return self.call_module(mod, self._bind_params(mod.params, args, kwargs, f"metric {name}", expr.span),
                                        frame.depth + 1)
            env = self._bind_params(mod.params, args, kwargs, f"module {name}", expr.span)
            return self.call_module(mod, env, frame.depth + 1)
        if name in BUILTINS:
            try:
                return BUILTINS[name](*args, **kwargs)
            except LmpRuntimeError:
                raise
            except (TypeError, ValueError) as exc:
                raise LmpRuntimeError(f"{self._where(expr.span)}: {name}(): {exc}") from None
        raise LmpRuntimeError(f"{self._where(expr.span)}: `{name}` is not a predictor, tool, retriever, module "
                              "or built-in function")

    def call_predictor(self, pid: str, args: list[Any], kwargs: dict[str, Any], span: Any = None) -> Prediction:
        pred = self.predictors.get(pid)
        if pred is None:
            raise LmpRuntimeError(f"{self._where(span)}: predictor `{pid}` has no valid signature")
        sig = pred.signature
        if len(args) > len(sig.inputs):
            raise LmpRuntimeError(f"{self._where(span)}: `{pid}` takes {len(sig.inputs)} inputs, got {len(args)}")
        inputs = {f.name: a for f, a in zip(sig.inputs, args, strict=False)}
        for k, v in kwargs.items():
            if sig.field(k) is None or sig.field(k).role != "in":  # type: ignore[union-attr]
                raise LmpRuntimeError(f"{self._where(span)}: `{pid}` has no input `{k}`; its inputs are: "
                                      f"{', '.join(f.name for f in sig.inputs)}")
            inputs[k] = v
        checked: dict[str, Any] = {}
        for f in sig.inputs:
            if f.name not in inputs:
                if isinstance(f.type, OptionalType):
                    checked[f.name] = None
                    continue
                raise LmpRuntimeError(f"{self._where(span)}: `{pid}` needs the input `{f.name}` ({f.type.render()})")
            checked[f.name] = self._checked(inputs[f.name], f.type, f"input `{f.name}` of `{pid}`", span)
        return trace.call(pred, checked)  # trace capture + state knn/ensemble (lmp.runtime.trace)

    def _bind_params(self, params: list[ir.Param], args: list[Any], kwargs: dict[str, Any], what: str,
                     span: Any) -> dict[str, Any]:
        if len(args) > len(params):
            raise LmpRuntimeError(f"{self._where(span)}: {what} takes {len(params)} arguments, got {len(args)}")
        bound = {p.name: a for p, a in zip(params, args, strict=False)}
        for k, v in kwargs.items():
            if not any(p.name == k for p in params):
                raise LmpRuntimeError(f"{self._where(span)}: {what} has no parameter `{k}`; its parameters are: "
                                      f"{', '.join(p.name for p in params) or '(none)'}")
            if k in bound:
                raise LmpRuntimeError(f"{self._where(span)}: {what}: `{k}` is given twice")
            bound[k] = v
        out: dict[str, Any] = {}
        for p in params:
            if p.name in bound:
                value = bound[p.name]
            elif p.default is not None:
                value = self.eval(p.default, Frame(ir.Module("<defaults>")))
            elif isinstance(p.type, OptionalType):
                value = None
            else:
                raise LmpRuntimeError(f"{self._where(span)}: {what} needs the argument `{p.name}` ({p.type.render()})")
            out[p.name] = self._checked(value, p.type, f"argument `{p.name}` of {what}", span)
        return out

    def _checked(self, value: Any, t: Type, what: str, span: Any) -> Any:
        try:
            return check_value(value, t)
        except TypeError as exc:
            raise LmpRuntimeError(f"{self._where(span)}: {what}: {exc}") from None

    # ------------------------------------------------------------------ tools and retrievers

    def _import_target(self, target: str, what: str) -> Callable[..., Any]:
        module_name, _, attr = target.partition(":")
        with _path_lock:
            # The .lmp file's directory comes first so `"rag.search:search"` finds rag/search.py
            # next to the program, like Python finds modules next to a script.
            if self.base_dir not in sys.path:
                sys.path.insert(0, self.base_dir)
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise LmpRuntimeError(
                f"{what}: cannot import `{module_name}` ({exc}). Put {module_name.replace('.', '/')}.py next to "
                f"{os.path.basename(self.program.path)} or install the package that provides it, then rerun.") from None
        except Exception as exc:  # noqa: BLE001 - the module itself crashed on import
            raise LmpRuntimeError(f"{what}: importing `{module_name}` failed: {type(exc).__name__}: {exc}") from exc
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise LmpRuntimeError(f"{what}: `{module_name}` has no attribute `{attr}`; check the import path "
                                      f"\"{target}\"")
            obj = getattr(obj, part)
        if not callable(obj):
            raise LmpRuntimeError(f"{what}: \"{target}\" is not callable")
        return obj

    def tool_function(self, name: str) -> Callable[..., Any]:
        with self._lock:
            fn = self._tools.get(name)
        if fn is None:
            tool = self.program.tools[name]
            fn = self._import_target(tool.target, f"tool `{name}`")
            with self._lock:
                self._tools[name] = fn
        return fn

    def call_tool(self, name: str, args: list[Any], kwargs: dict[str, Any], span: Any = None) -> Any:
        tool = self.program.tools[name]
        bound = self._bind_params(tool.params, args, kwargs, f"tool {name}", span)
        fn = self.tool_function(name)
        try:
            result = fn(**{k: to_plain(v) for k, v in bound.items()})
        except LmpRuntimeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a tool's bug is reported with its name and place
            raise LmpRuntimeError(f"{self._where(span)}: tool `{name}` ({tool.target}) raised "
                                  f"{type(exc).__name__}: {exc}") from exc
        if hasattr(result, "model_dump"):
            result = result.model_dump()
        if isinstance(tool.returns, RecordType) and isinstance(result, dict):
            result = wrap(result, tool.returns)
        try:
            return check_value(result, tool.returns)
        except TypeError as exc:
            raise LmpRuntimeError(f"{self._where(span)}: tool `{name}` ({tool.target}) returned the wrong type: "
                                  f"{exc}") from None

    def retriever(self, name: str) -> Callable[[str, int], list[str]]:
        with self._lock:
            r = self._retrievers.get(name)
        if r is not None:
            return r
        decl = self.program.retrievers[name]
        if decl.kind == "bm25":
            frame = Frame(ir.Module("<retriever>"))
            args = [self.eval(a, frame) for a in decl.args]
            opts = {k.name: self.eval(k.value, frame) for k in decl.kwargs}
            base = os.path.dirname(os.path.abspath(decl.path)) if decl.path else self.base_dir
            index = bm25_from_source(str(args[0]), base, text_field=str(opts.get("text", "text")))
            default_k = int(opts.get("k", 3))

            def r(query: str, k: int | None = None) -> list[str]:
                return index.search(query, default_k if k is None else k)
        else:
            r = as_retriever(self._import_target(decl.target or "", f"retriever `{name}`"))
        with self._lock:
            self._retrievers.setdefault(name, r)
        return r

    def call_retriever(self, name: str, args: list[Any], kwargs: dict[str, Any], span: Any = None) -> list[str]:
        params = [ir.Param("query", STR), ir.Param("k", OptionalType(INT))]
        bound = self._bind_params(params, args, kwargs, f"retriever {name}", span)
        fn = self.retriever(name)
        try:
            result = fn(bound["query"], bound["k"]) if bound["k"] is not None else fn(bound["query"])
        except LmpRuntimeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LmpRuntimeError(f"{self._where(span)}: retriever `{name}` raised {type(exc).__name__}: {exc}") from exc
        return passages(result)

    def tool_specs(self, names: list[str]) -> list[ToolSpec]:
        """What ReAct offers the model: declared tools, retrievers and modules, by name."""
        specs: list[ToolSpec] = []
        for name in names:
            if name in self.program.tools:
                tool = self.program.tools[name]
                specs.append(ToolSpec(name, tool.description or "", [(p.name, p.type.render()) for p in tool.params],
                                      lambda a, n=name: self.call_tool(n, [], a),
                                      frozenset(p.name for p in tool.params if p.default is not None)))
            elif name in self.program.retrievers:
                specs.append(ToolSpec(name, "search the corpus; returns passages", [("query", "str"), ("k", "int")],
                                      lambda a, n=name: self.call_retriever(n, [], a), frozenset({"k"})))
            elif name in self.program.modules:
                mod = self.program.modules[name]
                specs.append(ToolSpec(name, f"the {name} module", [(p.name, p.type.render()) for p in mod.params],
                                      lambda a, m=mod: to_plain(self.call_module(
                                          m, self._bind_params(m.params, [], a, f"module {m.name}", None), 1))))
            elif name.split(".")[0] in self.program.tool_servers:
                from lmp.runtime import mcp_tools

                specs.extend(mcp_tools.tool_specs(self, name))
            else:
                raise LmpRuntimeError(f"ReAct tool `{name}` is not a declared tool, retriever or module")
        return specs

    # ------------------------------------------------------------------ helpers

    def _where(self, span: Any) -> str:
        path = os.path.basename(self.program.path) if self.program.path else "<program>"
        if span is None or not hasattr(span, "line") or (span.start == 0 and span.end == 0):
            return path
        return f"{path}:{span.line + 1}:{span.col + 1}"


__all__ = ["Frame", "Interpreter"]
