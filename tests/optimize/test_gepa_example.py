"""The shipped GEPA example (examples/feedback): its state file is a real gepa run with a lineage, and its
README quotes the run's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import lmp
from lmp.optimize.state import load_state, program_hash, validate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "feedback"


def test_the_example_checks_clean_and_its_metric_returns_feedback():
    handle = lmp.load(EXAMPLE / "reviews.lmp")
    metric = handle.program.modules["graded"]
    assert [f.name for f in metric.returns.fields] == ["score", "feedback"]
    assert "reflect" in handle.program.models


def test_the_shipped_state_is_a_gepa_run_with_its_lineage():
    path = EXAMPLE / "reviews.state.json"
    data = json.loads(path.read_text())
    assert validate(data) == []
    program = lmp.load(EXAMPLE / "reviews.lmp").program
    state = load_state(str(path), program)
    assert state.optimizer == "gepa" and state.scores["metric"] == "graded"
    assert state.program_hash == program_hash(program)  # made from the program as shipped
    lin = data["lineage"]
    ids = {c["id"] for c in lin["candidates"]}
    assert lin["chosen"] in ids and lin["path"][0] == lin["chosen"] and lin["path"][-1] == 0
    assert set(lin["frontier"]) <= ids
    assert data["cost"]["calls"] <= 150  # the README's --budget calls=150
    readme = (EXAMPLE / "README.md").read_text()
    s = data["scores"]
    assert f"{s['dev_before']:.3f} → {s['dev_after']:.3f}" in readme
    assert f"{data['cost']['calls']} model calls" in readme
