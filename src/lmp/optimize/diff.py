"""Human-readable differences between two state files (`lmp diff-state`)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from lmp.optimize.state import State


def _demo_key(d: dict[str, Any]) -> str:
    return json.dumps({"inputs": d.get("inputs"), "outputs": d.get("outputs")}, sort_keys=True, ensure_ascii=False,
                      default=str)


def _short(d: dict[str, Any], width: int = 100) -> str:
    ins = json.dumps(d.get("inputs"), ensure_ascii=False, default=str)
    outs = json.dumps(d.get("outputs"), ensure_ascii=False, default=str)
    text = f"{ins} -> {outs}"
    return text if len(text) <= width else text[: width - 1] + "…"


# Metric values between 0 and 1, whose differences are percentage points; every other entry of
# `scores` is a count or a flag.
SCORE_KEYS = frozenset({"dev_before", "dev_after", "best_trial"})


def _num(v: Any) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def diff_states(a: State, b: State, name_a: str = "a", name_b: str = "b") -> str:
    out: list[str] = [f"--- {name_a}", f"+++ {name_b}"]
    if a.program_hash != b.program_hash:
        out.append(f"program: {a.program_path} changed between the two ({a.program_hash[:15]}… -> {b.program_hash[:15]}…)")
    if (a.optimizer, a.settings) != (b.optimizer, b.settings):
        out.append(f"optimizer: {a.optimizer} {json.dumps(a.settings, sort_keys=True)} -> "
                   f"{b.optimizer} {json.dumps(b.settings, sort_keys=True)}")
    if (a.prompt_model, a.task_model) != (b.prompt_model, b.task_model):
        out.append(f"models: task {a.task_model} -> {b.task_model}, prompt {a.prompt_model} -> {b.prompt_model}")
    keys = sorted(set(a.scores) | set(b.scores))
    changed = [k for k in keys if a.scores.get(k) != b.scores.get(k)]
    if changed:
        out.append("scores:")
        for k in changed:
            va, vb = a.scores.get(k), b.scores.get(k)
            delta = ""
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (va, vb))
            if numbers and k in SCORE_KEYS:
                delta = f" ({(vb - va) * 100:+.1f}pt)"  # type: ignore[operator]
            elif numbers and isinstance(va, int) and isinstance(vb, int):
                delta = f" ({vb - va:+d})"  # counts (dev_size, failed rows): plain differences, not points
            out.append(f"  {k}: {_num(va)} -> {_num(vb)}{delta}")
    for pid in sorted(set(a.predictors) | set(b.predictors)):
        pa, pb = a.predictors.get(pid), b.predictors.get(pid)
        if pa is None:
            out.append(f"predictor {pid}: added ({len(pb.demos)} demos)")  # type: ignore[union-attr]
            continue
        if pb is None:
            out.append(f"predictor {pid}: removed")
            continue
        lines: list[str] = []
        if pa.signature_hash != pb.signature_hash:
            lines.append("  signature changed")
        if pa.instructions != pb.instructions:
            lines.append("  instructions:")
            diff = difflib.unified_diff((pa.instructions or "(signature default)").splitlines(),
                                        (pb.instructions or "(signature default)").splitlines(), lineterm="", n=1)
            lines += [f"    {line}" for line in list(diff)[2:]]
        ka = {_demo_key(d): d for d in pa.demos}
        kb = {_demo_key(d): d for d in pb.demos}
        removed = [d for k, d in ka.items() if k not in kb]
        added = [d for k, d in kb.items() if k not in ka]
        if added or removed:
            lines.append(f"  demos: {len(pa.demos)} -> {len(pb.demos)} ({len(added)} added, {len(removed)} removed)")
            lines += [f"    + {_short(d)}" + (" (bootstrapped)" if d.get("augmented") else "") for d in added]
            lines += [f"    - {_short(d)}" for d in removed]
        elif [_demo_key(d) for d in pa.demos] != [_demo_key(d) for d in pb.demos]:
            lines.append("  demos: same demos, new order")
        if (pa.knn or {}).get("k") != (pb.knn or {}).get("k") or len((pa.knn or {}).get("pool", [])) != len(
                (pb.knn or {}).get("pool", [])):
            lines.append(f"  knn: {_knn(pa.knn)} -> {_knn(pb.knn)}")
        if len(pa.ensemble or []) != len(pb.ensemble or []):
            lines.append(f"  ensemble: {len(pa.ensemble or [])} -> {len(pb.ensemble or [])} members")
        if lines:
            out.append(f"predictor {pid}:")
            out += lines
    if len(out) == 2:
        out.append("no differences")
    return "\n".join(out)


def _knn(knn: dict[str, Any] | None) -> str:
    return "none" if not knn else f"k={knn.get('k')}, pool of {len(knn.get('pool', []))}"
