"""The Python API: `lmp.load(path)` and friends.

    prog = lmp.load("classify.lmp", state="classify.opt.json")
    pred = prog.Classify(event="...")          # a typed Prediction: pred.category, pred.model_dump()
    pred = await prog.Classify.acall(event="...")
    for p in prog.Classify.stream(event="..."): ...   # lmp.Partial values, then the Prediction
    with lmp.context(model="openai/gpt-4o-mini"):
        ...
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from lmp.diagnostics import Diagnostic
from lmp.ir.nodes import Program
from lmp.runtime import settings as _settings
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.lm.history import CallRecord
from lmp.runtime.values import Prediction

if TYPE_CHECKING:
    from lmp.runtime.streaming import Partial


class ProgramError(Exception):
    """The program has checker errors; it is not run (the checker is why lmp exists)."""

    user_facing = True

    def __init__(self, path: str, errors: list[Diagnostic], sources: dict[str, str]) -> None:
        from lmp.diagnostics import format_diagnostic

        self.path = path
        self.diagnostics = errors
        shown = "\n".join(format_diagnostic(d, sources.get(d.path or "")) for d in errors[:10])
        more = f"\n... and {len(errors) - 10} more" if len(errors) > 10 else ""
        super().__init__(f"{path} has {len(errors)} error(s); fix them (see `lmp check {path}`) before running:\n"
                         f"{shown}{more}")


class ModuleHandle:
    """`prog.ModuleName` (or `prog.SignatureName`, one predictor on its own): call it with keyword
    inputs; `.acall(...)` for asyncio."""

    def __init__(self, handle: ProgramHandle, name: str) -> None:
        self._handle = handle
        self.name = name
        self.module = handle.interpreter.module(name)

    def __call__(self, **inputs: Any) -> Prediction:
        return self._handle.interpreter.run(self.name, inputs)

    async def acall(self, **inputs: Any) -> Prediction:
        return await self._handle.interpreter.arun(self.name, inputs)

    def stream(self, **inputs: Any) -> Iterator[Partial | Prediction]:
        """Run while yielding `lmp.Partial` values (fields None until parsed, str fields growing),
        then the validated `Prediction` as the last item. Bad inputs raise here, before any model
        call. See lmp.runtime.streaming for what a partial of a multi-step module holds."""
        from lmp.runtime.streaming import stream_module

        return stream_module(self._handle.interpreter, self.name, inputs)

    def astream(self, **inputs: Any) -> AsyncIterator[Partial | Prediction]:
        """`async for p in prog.Module.astream(...)`: `stream` for asyncio."""
        from lmp.runtime.streaming import astream_module

        return astream_module(self._handle.interpreter, self.name, inputs)

    @property
    def inputs(self) -> dict[str, str]:
        return {p.name: p.type.render() for p in self.module.params}

    @property
    def outputs(self) -> dict[str, str]:
        return {f.name: f.type.render() for f in self.module.outputs}

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}: {v}" for k, v in self.inputs.items())
        outs = ", ".join(f"{k}: {v}" for k, v in self.outputs.items())
        kind = "module" if self.name in self._handle.program.modules else "signature"
        return f"<lmp {kind} {self.name}({ins}) -> ({outs})>"


class ProgramHandle:
    """A loaded, checked program. Module names are attributes; predictors are in `.predictors`."""

    def __init__(self, program: Program, state: Any = None, diagnostics: list[Diagnostic] | None = None) -> None:
        from lmp.runtime.interpreter import Interpreter
        from lmp.runtime.state import default_state_path

        self.program = program
        self.path = program.path
        self.diagnostics = list(diagnostics or [])
        if state is None and program.path:
            state = default_state_path(program.path)
        self.interpreter = Interpreter(program, state)

    @property
    def predictors(self) -> dict[str, Any]:
        return self.interpreter.predictors

    @property
    def modules(self) -> list[str]:
        return [n for n, m in self.program.modules.items() if not m.is_metric]

    @property
    def signatures(self) -> list[str]:
        """Named signatures, each callable on its own like a module."""
        return list(self.program.signatures)

    def run(self, module: str, **inputs: Any) -> Prediction:
        return self.interpreter.run(module, inputs)

    def load_state(self, state: Any) -> None:
        self.interpreter.apply_state(state)

    def metric(self, name: str, example: Any, pred: Any) -> Any:
        return self.interpreter.run_metric(name, example, pred)

    def __getattr__(self, name: str) -> ModuleHandle:
        if name.startswith("_"):
            raise AttributeError(name)
        program = self.__dict__.get("program")
        if program is not None and (name in program.modules and not program.modules[name].is_metric
                                    or name in program.signatures):
            return ModuleHandle(self, name)
        interpreter = self.__dict__.get("interpreter")
        hint = interpreter.entry_points() if interpreter is not None else "its modules are: (none)"
        raise AttributeError(f"{os.path.basename(self.path)} has no module or signature `{name}`; {hint}")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.modules, *self.signatures]

    def __repr__(self) -> str:
        return f"<lmp program {self.path}: {', '.join(self.modules)}>"


def _handle_from(loaded: Any, state: Any) -> ProgramHandle:
    errors = loaded.errors
    if errors:
        sources = {p: prog.text for p, prog in loaded.files.items()}
        raise ProgramError(loaded.program.path, errors, sources)
    return ProgramHandle(loaded.program, state, loaded.diagnostics)


def load(path: str | os.PathLike[str], state: Any = None) -> ProgramHandle:
    """Load, check and prepare a program; refuses a program with checker errors."""
    from lmp.project import load_program

    p = os.fspath(path)
    if not os.path.exists(p):
        raise LmpRuntimeError(f"no such program: {p}")
    return _handle_from(load_program(p), state)


def loads(text: str, path: str = "<memory>.lmp", state: Any = None) -> ProgramHandle:
    """Like `load` for source text (tools and files resolve relative to `path`'s directory)."""
    from lmp.project import load_program

    return _handle_from(load_program(os.path.abspath(path) if path != "<memory>.lmp" else path, text=text), state)


def check(path: str | os.PathLike[str]) -> list[Diagnostic]:
    from lmp.project import load_program

    return load_program(os.fspath(path)).diagnostics


def configure(**settings: Any) -> None:
    """Process-wide settings: model=, models={role: id}, cache=True|False|dir, lm=LM, history=History."""
    _settings.configure(**settings)


def context(**settings: Any) -> Iterator[Any]:
    """`with lmp.context(model="..."):` overrides settings for this thread or task only."""
    return _settings.context(**settings)  # type: ignore[return-value]


def history(last: int | None = None) -> list[CallRecord]:
    records = _settings.history().records()
    return records[-last:] if last else records


__all__ = ["ModuleHandle", "ProgramError", "ProgramHandle", "check", "configure", "context", "history", "load",
           "loads"]
