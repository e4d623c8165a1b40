from __future__ import annotations

import json
import shutil
import warnings

import pytest

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import INT, STR, LiteralType
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.preview import output_schema, render_preview
from lmp.runtime.state import StateWarning, read_state, signature_hash
from tests.runtime.rt_helpers import FIXTURES, load


def test_signature_hash_covers_names_types_roles_not_instructions():
    a = Signature("A", [Field("q", STR)], [Field("a", LiteralType(("x", "y")), None, "out")], "Do it.")
    same = Signature("B", [Field("q", STR, "desc")], [Field("a", LiteralType(("y", "x"), "Named"), None, "out")], "Other.")
    assert signature_hash(a) == signature_hash(same)
    assert signature_hash(a).startswith("sha256:")
    assert signature_hash(a) != signature_hash(Signature("A", [Field("q", INT)], a.outputs))
    assert signature_hash(a) != signature_hash(Signature("A", [Field("question", STR)], a.outputs))
    assert signature_hash(a) != signature_hash(Signature("A", [Field("q", STR)], [Field("a", LiteralType(("x",)), None, "out")]))


def test_state_warns_on_changed_signature_and_unknown_predictor():
    prog = load("classify.lmp")
    state = {"predictors": {"Classify.classify": {"signature_hash": "sha256:old", "instructions": "New.", "demos": []},
                            "Gone.pred": {"instructions": "x"}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interp = Interpreter(prog, state)
    messages = [str(w.message) for w in caught if issubclass(w.category, StateWarning)]
    assert any("signature of `Classify.classify` changed" in m for m in messages)
    assert any("`Gone.pred` is not in the program" in m for m in messages)
    assert interp.predictors["Classify.classify"].instructions == "New."


def test_matching_hash_does_not_warn():
    prog = load("classify.lmp")
    h = signature_hash(prog.signatures["ClassifyEvent"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Interpreter(prog, {"predictors": {"Classify.classify": {"signature_hash": h, "demos": []}}})


def test_bad_state_files(tmp_path):
    with pytest.raises(LmpRuntimeError, match="does not exist"):
        read_state(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LmpRuntimeError, match="cannot read state file"):
        read_state(bad)
    with pytest.raises(LmpRuntimeError, match="no `predictors`"):
        read_state({"schema": 1})


def test_preview_uses_example_and_model():
    prog = load("classify.lmp")
    p = render_preview(prog, "ClassifyEvent")
    # A signature previews as it runs: answered by the program's one predictor over it.
    assert p.example == "ClassifyEvent" and p.adapter == "chat" and p.predictor_id == "Classify.classify"
    assert "Battle of Nineveh" in p.messages[-1]["content"]
    p2 = render_preview(prog, "Classify.classify")
    assert p2.predictor_id == "Classify.classify" and p2.messages == p.messages
    assert p2.model == "fake:NO MODEL CONFIGURED IN THIS TEST"  # LMP_MODEL_DEFAULT from conftest


def test_a_signature_preview_shows_the_state_its_run_would_use():
    prog = load("classify.lmp")
    demo = {"inputs": {"event": "The Treaty of Westphalia is signed."},
            "outputs": {"category": "Politics and Governance", "confidence": 0.8}}
    state = {"predictors": {"Classify.classify": {"instructions": "Name the category.", "demos": [demo]}}}
    p = render_preview(prog, "ClassifyEvent", state=state)
    text = "\n".join(m["content"] for m in p.messages)
    assert "Name the category." in text and "Treaty of Westphalia" in text


def test_preview_placeholders_and_inputs():
    prog = load("multihop.lmp")
    p = render_preview(prog, "answer")
    assert "[[ ## context ## ]]\n{context}" in p.messages[-1]["content"]
    assert p.example is None
    p = render_preview(prog, "MultiHopQA.answer", inputs={"context": ["c1"], "question": "Q?"})
    assert "[1] c1" in p.messages[-1]["content"] and "Q?" in p.messages[-1]["content"]
    with pytest.raises(LmpRuntimeError, match="choose one of"):
        render_preview(prog, "nope")
    with pytest.raises(LmpRuntimeError, match="no example named"):
        render_preview(prog, "answer", example="nope")


def test_preview_is_the_runtime_render(fake):
    from tests.runtime.rt_helpers import chat

    prog = load("classify.lmp")
    lm = fake([chat(category="Economic Events", confidence=0.5)])
    Interpreter(prog).run("Classify", event="Oil shock")
    p = render_preview(prog, "Classify.classify", inputs={"event": "Oil shock"})
    assert p.messages == lm.calls[0]["messages"]


def test_preview_applies_state_beside_program(tmp_path):
    for name in ("classify.lmp",):
        shutil.copy(FIXTURES / name, tmp_path / name)
    state = {"predictors": {"Classify.classify": {"instructions": "Optimized.", "demos": [
        {"inputs": {"event": "E"}, "outputs": {"category": "Economic Events", "confidence": 1.0}}]}}}
    (tmp_path / "classify.state.json").write_text(json.dumps(state))
    from lmp.project import load_program

    prog = load_program(tmp_path / "classify.lmp").program
    p = render_preview(prog, "Classify.classify")
    assert p.state.endswith("classify.state.json")
    assert [m["role"] for m in p.messages] == ["system", "user", "assistant", "user"]
    assert p.messages[0]["content"].rstrip().endswith("Optimized.")
    p = render_preview(prog, "Classify.classify", state={"predictors": {}})
    assert len(p.messages) == 2


def test_output_schema():
    schema = output_schema(load("classify.lmp"), "Classify.classify")
    assert schema["title"] == "ClassifyEvent"
    assert schema["properties"]["category"]["enum"][0] == "Wars and Conflicts"
    assert schema["properties"]["confidence"] == {"type": "number", "description": "between 0 and 1"}
    assert schema["required"] == ["category", "confidence"]
