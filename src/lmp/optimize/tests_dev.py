"""`--dev tests`: a program's `test` blocks as the dev set of `lmp eval` and `lmp optimize`.

Each test block for the evaluated module (or signature) is one example: its inputs, and as gold outputs
the values of its equalities on output fields (`expect category == "war"` or `check ...`; see
`lmp.runtime.testing.equality_labels`). Other expectations are not labels.
"""

from __future__ import annotations

import os

from lmp.ir import nodes as ir
from lmp.optimize.data import DatasetError, Example, load_dataset
from lmp.runtime.testing import discover

DEV_TESTS = "tests"  # the `--dev` value that selects test blocks instead of a JSONL file


def examples_from_tests(program: ir.Program, target: str, *, require_gold: bool = False) -> list[Example]:
    examples = []
    for case in discover(program):
        if case.target != target:
            continue
        where = f"{case.path}:{case.span.line + 1} (test {case.name})"
        if case.problem is not None:
            raise DatasetError(f"{where}: {case.problem}")
        if require_gold and not case.labels:
            raise DatasetError(f"{where}: no gold output; the metric needs an `expect FIELD == value` (or `check`)")
        examples.append(Example(dict(case.inputs), dict(case.labels), where))
    if not examples:
        raise DatasetError(f"--dev tests: {os.path.basename(program.path)} has no test block for `{target}`")
    return examples


def load_dev(spec: str, program: ir.Program, target: str, module: ir.Module, *, require_gold: bool = False) -> list[Example]:
    """`--dev tests` (the program's test blocks for `target`) or `--dev FILE.jsonl` (lmp.optimize.data)."""
    if spec == DEV_TESTS:
        return examples_from_tests(program, target, require_gold=require_gold)
    return load_dataset(spec, module, require_gold=require_gold)
