"""`lmp preview`: the header says where the inputs came from."""

from __future__ import annotations

import json

from tests.cli.cli_helpers import ROOT, run

CLASSIFY = ROOT / "examples" / "classify" / "classify.lmp"
MULTIHOP = ROOT / "tests" / "fixtures" / "runtime" / "multihop.lmp"


def test_inputs_given_with_i_are_not_called_the_example(capsys):
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify", "-i", "event=The Moon landing.")
    assert code == 0
    assert out.splitlines()[1].startswith("inputs: event from -i   state: ")
    assert "ClassifyEvent" not in out.splitlines()[1]
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify", "-i", "event=x", "--json")
    assert json.loads(out)["example"] is None


def test_example_header_names_the_inputs_overridden(capsys):
    code, out, _ = run(capsys, "preview", str(MULTIHOP), "gen_query", "-i", 'context=["a"]')
    assert code == 0 and out.splitlines()[1].startswith("example: MultiHopQA.gen_query (context from -i)")
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify")
    assert out.splitlines()[1].startswith("example: ClassifyEvent   state: ")
