"""A program under optimization: apply a candidate (per-predictor instructions/demos), run one example.

A candidate is `{predictor_id: PredictorState}`; predictors it does not mention run as the program
was loaded. Candidates are applied to the one shared interpreter between evaluations (rows of one
evaluation run concurrently against the same candidate).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lmp.optimize.data import Example
from lmp.optimize.state import PredictorState, State, predictor_hashes
from lmp.runtime import trace
from lmp.runtime.predictors import labeled_signature
from lmp.runtime.state import PredictorState as RtPredictorState
from lmp.runtime.state import RuntimeState
from lmp.runtime.values import to_plain

Candidate = dict[str, PredictorState]


def fingerprint(candidate: Candidate | None) -> str:
    data = {pid: ps.to_dict() for pid, ps in sorted((candidate or {}).items())}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Runner:
    def __init__(self, handle: Any, module: str) -> None:
        self.handle = handle
        self.module = module
        self.interp = handle.interpreter
        self.program = handle.program
        self.hashes = predictor_hashes(self.program)
        self._base = {pid: (p.instructions, list(p.demos)) for pid, p in self.interp.predictors.items()}
        self._base_state = self.interp.state
        self.current: str | None = None
        self.interp.module(module)  # a clear error for an unknown module

    @property
    def predictor_ids(self) -> list[str]:
        """Predictors an optimizer may tune: those of modules (metric judges are not tuned)."""
        out = []
        for m in self.program.modules.values():
            if m.is_metric:
                continue
            out += [p.id for p in m.predictors if p.id in self.interp.predictors]
        return out

    def predictor(self, pid: str) -> Any:
        return self.interp.predictors[pid]

    def base_instructions(self, pid: str) -> str:
        p = self.interp.predictors[pid]
        base = self._base[pid][0]
        return base if base is not None else p.signature.effective_instructions()

    def apply(self, candidate: Candidate | None) -> None:
        fp = fingerprint(candidate)
        if fp == self.current:
            return
        candidate = candidate or {}
        raw: dict[str, Any] = {"predictors": {}}
        rt: dict[str, RtPredictorState] = {}
        for pid, p in self.interp.predictors.items():
            ps = candidate.get(pid)
            if ps is None:
                p.instructions, p.demos = self._base[pid][0], list(self._base[pid][1])
                if self._base_state is not None and pid in self._base_state.predictors:
                    entry = (self._base_state.raw.get("predictors") or {}).get(pid)
                    if isinstance(entry, dict):
                        raw["predictors"][pid] = entry
                continue
            p.instructions = ps.instructions if ps.instructions is not None else self._base[pid][0]
            p.demos = list(ps.demos)
            raw["predictors"][pid] = ps.to_dict()
            rt[pid] = RtPredictorState(p.instructions, p.demos, ps.signature_hash)
        self.interp.state = RuntimeState(rt, None, raw)
        self.current = fp

    def run(self, example: Example) -> tuple[dict[str, Any], list[trace.TraceEntry]]:
        with trace.collect() as entries:
            pred = self.interp.run(self.module, dict(example.inputs))
        return to_plain(pred.model_dump()), list(entries)

    def state_for(self, candidate: Candidate, optimizer: str, settings: dict[str, Any], **kw: Any) -> State:
        from lmp.optimize.state import program_hash

        return State(program_path=self.program.path, program_hash=program_hash(self.program), optimizer=optimizer,
                     settings=settings, predictors=dict(candidate), module=self.module, **kw)

    def empty(self, pid: str) -> PredictorState:
        return PredictorState(self.hashes[pid])


def demo_for(pid_signature: Any, entry: trace.TraceEntry) -> dict[str, Any]:
    return {"inputs": dict(entry.inputs), "outputs": dict(entry.outputs), "augmented": True}


def demo_signature(predictor: Any) -> Any:
    """The fields a labeled demo for this run-time predictor may fill (see `labeled_signature`)."""
    return labeled_signature(predictor.kind, predictor.signature)


def labeled_demo(signature: Any, example: Example) -> dict[str, Any] | None:
    """A raw example as a demo for a predictor whose fields it has (None if it does not fit)."""
    values = example.record()
    ins = {f.name: values[f.name] for f in signature.inputs if f.name in values}
    outs = {f.name: values[f.name] for f in signature.outputs if f.name in values}
    if len(ins) != len(signature.inputs) or not outs:
        return None
    return {"inputs": ins, "outputs": outs, "augmented": False}
