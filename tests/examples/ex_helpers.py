"""Helpers for the example tests (imported by name: tests/examples has no __init__.py)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_json(lmp, *args: str) -> dict:
    proc = lmp("run", *args, "--json")
    return json.loads(proc.stdout)


def state(path: Path) -> dict:
    """A state file, validated against the published schema (skips when it has not been produced)."""
    import pytest

    from lmp.optimize.state import validate

    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} has not been produced yet: run the `lmp optimize` command in "
                    f"{path.parent.relative_to(ROOT)}/README.md")

    data = json.loads(path.read_text())
    assert validate(data) == [], f"{path} does not validate"
    return data


def literal_members(program: Path, type_name: str) -> set[str]:
    import lmp

    prog = lmp.load(program)
    return set(prog.program.types[type_name].type.members)
