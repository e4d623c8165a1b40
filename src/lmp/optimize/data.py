"""JSONL datasets: one example per line, inputs = the module's parameters, gold = its outputs.

A row may also carry *labels* for the module's predictors: a key that is a field of one of their
signatures (ChainOfThought's `reasoning` included) but not of the module, e.g. a hand-written
rationale. Labels are never inputs and never scored; they complete labeled demos, which is how a
small model is shown an intermediate format it cannot produce zero-shot.

Every row is checked before any model call: bad JSON, a non-object, a key that is neither the
module's nor a predictor's field, a missing input, an input or gold value of the wrong type (e.g. a
label outside the literal union) each fail with `file:line`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from lmp.ir import nodes as ir
from lmp.ir.types import OptionalType, Type
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.predictors import labeled_signature
from lmp.runtime.values import check_value, to_plain


class DatasetError(LmpRuntimeError):
    """A dataset row that cannot be used; the message names file:line."""

    user_facing = True


@dataclass
class Example:
    inputs: dict[str, Any]
    gold: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # "file:line"
    labels: dict[str, Any] = field(default_factory=dict)  # predictor fields the module does not have

    def record(self) -> dict[str, Any]:
        """Inputs, gold and labels together: what `metric m(example, pred)` sees as `example`."""
        return {**self.labels, **self.inputs, **self.gold}

    @property
    def key(self) -> str:
        parts: list[Any] = [self.inputs, self.gold, self.labels] if self.labels else [self.inputs, self.gold]
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def parse_rows(path: str, module: ir.Module, *, require_gold: bool = False,
               lines: list[str] | None = None) -> list[Example]:
    params = {p.name: p for p in module.params}
    outputs = {f.name: f for f in module.outputs}
    label_fields = predictor_fields(module)
    if lines is None:
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise DatasetError(f"cannot read dataset {path}: {exc.strerror or exc}") from None
    examples: list[Example] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc}); each line must be one JSON object") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
        unknown = [k for k in row if k not in params and k not in outputs and k not in label_fields]
        if unknown:
            labels_hint = (f"; predictor fields usable as labels: {', '.join(sorted(label_fields))}"
                           if label_fields else "")
            raise DatasetError(
                f"{where}: {', '.join(f'`{u}`' for u in unknown)} is not an input or output of {module.name} "
                f"(inputs: {', '.join(params) or '(none)'}; outputs: {', '.join(outputs) or '(none)'}"
                f"{labels_hint})")
        labels: dict[str, Any] = {}
        for name in row:
            if name in params or name in outputs:
                continue
            try:
                labels[name] = to_plain(check_value(row[name], label_fields[name]))
            except TypeError as exc:
                raise DatasetError(f"{where}: label `{name}` ({label_fields[name].render()}): {exc}") from None
        inputs: dict[str, Any] = {}
        for name, p in params.items():
            if name not in row:
                if p.default is None and not isinstance(p.type, OptionalType):
                    raise DatasetError(f"{where}: missing the input `{name}` ({p.type.render()}) of {module.name}")
                continue
            try:
                inputs[name] = to_plain(check_value(row[name], p.type))
            except TypeError as exc:
                raise DatasetError(f"{where}: input `{name}`: {exc}") from None
        gold: dict[str, Any] = {}
        for name, f in outputs.items():
            if name not in row:
                continue
            try:
                gold[name] = to_plain(check_value(row[name], f.type))
            except TypeError as exc:
                raise DatasetError(f"{where}: gold `{name}` ({f.type.render()}): {exc}") from None
        if require_gold and not gold:
            raise DatasetError(f"{where}: no gold output; the metric compares against "
                               f"{', '.join(f'`{o}`' for o in outputs)}")
        examples.append(Example(inputs, gold, where, labels))
    if not examples:
        raise DatasetError(f"{path}: the dataset is empty (one JSON object per line expected)")
    return examples


def predictor_fields(module: ir.Module) -> dict[str, Type]:
    """Fields of the module's predictors (with ChainOfThought's `reasoning`) that the module lacks."""
    own = {p.name for p in module.params} | {f.name for f in module.outputs}
    fields: dict[str, Type] = {}
    for pred in module.predictors:
        if pred.signature is None:
            continue
        sig = labeled_signature(pred.kind, pred.signature)
        for f in [*sig.inputs, *sig.outputs]:
            fields.setdefault(f.name, f.type)
    return {name: t for name, t in fields.items() if name not in own}


def load_dataset(path: str | os.PathLike[str], module: ir.Module, *, require_gold: bool = False) -> list[Example]:
    """Read and check a JSONL dataset for `module` (raises DatasetError naming file:line)."""
    return parse_rows(os.fspath(path), module, require_gold=require_gold)


def dataset_hash(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(ex.key.encode())
    return h.hexdigest()[:16]
