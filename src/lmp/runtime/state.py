"""Reading optimizer state files at run time: per-predictor instructions and demos.

Tolerant on purpose: the optimizer (`lmp.optimize.state`) owns the full schema and its
validation; the runtime only needs `predictors[id].instructions/demos`, warns when a
predictor's `signature_hash` no longer matches, and ignores what it does not know.
`signature_hash` lives here, in one function, so that writer and reader agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmp.ir.nodes import Program, Signature
from lmp.ir.types import (
    DictType,
    ListType,
    LiteralType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
)
from lmp.runtime.errors import LmpRuntimeError


class StateWarning(UserWarning):
    """A state file that does not quite fit the program (changed signatures, unknown predictors)."""


def _type_key(t: Type) -> Any:
    # Structural, without names or descriptions: renaming a type alias or rewording a description
    # does not invalidate demos, changing a member or a field type does.
    if isinstance(t, PrimType):
        return t.name
    if isinstance(t, LiteralType):
        return {"literal": sorted(t.members)}
    if isinstance(t, ListType):
        return {"list": _type_key(t.item)}
    if isinstance(t, DictType):
        return {"dict": _type_key(t.value)}
    if isinstance(t, OptionalType):
        return {"optional": _type_key(t.inner)}
    if isinstance(t, RecordType):
        return {"record": [[f.name, _type_key(f.type)] for f in t.fields]}
    return t.render()


def signature_hash(sig: Signature) -> str:
    """`sha256:<hex>` over field names, types and roles (not instructions or descriptions)."""
    payload = {"in": [[f.name, _type_key(f.type)] for f in sig.inputs],
               "out": [[f.name, _type_key(f.type)] for f in sig.outputs]}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class PredictorState:
    instructions: str | None = None
    demos: list[dict[str, Any]] = field(default_factory=list)
    signature_hash: str | None = None


@dataclass
class RuntimeState:
    predictors: dict[str, PredictorState]
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def read_state(source: str | os.PathLike[str] | dict[str, Any] | RuntimeState) -> RuntimeState:
    """A state file (path), an already-loaded dict, or a RuntimeState."""
    if isinstance(source, RuntimeState):
        return source
    path: str | None = None
    if isinstance(source, dict):
        data = source
    else:
        path = os.fspath(source)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LmpRuntimeError(f"state file {path} does not exist; check the --state path "
                                  "(state files are written by `lmp optimize -o FILE`)") from None
        except (OSError, ValueError) as exc:
            raise LmpRuntimeError(f"cannot read state file {path}: {exc}. It must be the JSON written by "
                                  "`lmp optimize`; delete it or rerun the optimizer.") from None
    if hasattr(data, "predictors") and not isinstance(data, dict):  # lmp.optimize's State object
        preds_raw = {k: {"instructions": getattr(v, "instructions", None), "demos": getattr(v, "demos", [])}
                     for k, v in data.predictors.items()}
        data = {"predictors": preds_raw}
    preds = data.get("predictors") if isinstance(data, dict) else None
    if not isinstance(preds, dict):
        raise LmpRuntimeError(f"state {path or '(dict)'} has no `predictors` object; it is not an lmp state file")
    out: dict[str, PredictorState] = {}
    for pid, entry in preds.items():
        if not isinstance(entry, dict):
            continue
        demos = entry.get("demos") or []
        out[pid] = PredictorState(
            instructions=entry.get("instructions"),
            demos=[d for d in demos if isinstance(d, dict)],
            signature_hash=entry.get("signature_hash"),
        )
    return RuntimeState(out, path, data if isinstance(data, dict) else {})


def check_against(state: RuntimeState, program: Program) -> list[str]:
    """Warnings for predictors whose signature changed since the state was made, or that vanished."""
    problems: list[str] = []
    known = program.predictors()
    for pid, ps in state.predictors.items():
        pred = known.get(pid)
        if pred is None:
            problems.append(f"state {state.path or ''}: predictor `{pid}` is not in the program; ignored")
            continue
        if ps.signature_hash and pred.signature is not None and ps.signature_hash != signature_hash(pred.signature):
            problems.append(
                f"state {state.path or ''}: the signature of `{pid}` changed since the state was made; "
                "its demos may not fit (rerun `lmp optimize`)")
    return problems


def default_state_path(program_path: str) -> str | None:
    """`<prog>.state.json` beside `<prog>.lmp`, if it exists."""
    base = program_path[:-4] if program_path.endswith(".lmp") else program_path
    candidate = base + ".state.json"
    return candidate if os.path.exists(candidate) else None


def warn_all(messages: list[str]) -> None:
    for m in messages:
        warnings.warn(m, StateWarning, stacklevel=3)
