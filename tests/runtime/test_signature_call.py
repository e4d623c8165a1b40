"""A signature runs on its own, as the language tour's `prog.ClassifyEvent(event=...)` does: from
Python, from `lmp run FILE SIGNATURE`, and in a batch. When one predictor of the program is declared
over the signature, that predictor answers, so its optimized state applies."""

from __future__ import annotations

import json
import shutil

import pytest

import lmp
from lmp.cli.main import main
from lmp.runtime.errors import LmpRuntimeError
from tests.runtime.rt_helpers import FIXTURES, chat

ANSWER = chat(category="Wars and Conflicts", confidence=0.9)
DEMO_EVENT = "The Treaty of Westphalia ends the Thirty Years' War."
STATE = {"predictors": {"Classify.classify": {
    "instructions": "Name the category of the historic event.",
    "demos": [{"inputs": {"event": DEMO_EVENT},
               "outputs": {"category": "Politics and Governance", "confidence": 0.8}}],
}}}


def test_a_signature_called_from_python_uses_the_programs_predictor_and_state(fake):
    lm = fake([ANSWER])
    prog = lmp.load(FIXTURES / "classify.lmp", state=STATE)
    out = prog.ClassifyEvent(event="Battle of Hastings")
    assert out.model_dump() == {"category": "Wars and Conflicts", "confidence": 0.9}
    assert prog.signatures == ["ClassifyEvent"] and "ClassifyEvent" in dir(prog)
    assert repr(prog.ClassifyEvent) == "<lmp signature ClassifyEvent(event: str) -> (category: Category, confidence: float)>"
    [call] = lm.history.records()
    prompt = "\n".join(m["content"] for m in call.messages)
    assert call.predictor == "Classify.classify"
    assert "Name the category of the historic event." in prompt and DEMO_EVENT in prompt
    assert "Battle of Hastings" in prompt


def test_a_signature_no_predictor_uses_is_a_plain_predict_and_its_inputs_are_checked(fake, tmp_path):
    path = tmp_path / "s.lmp"
    path.write_text('signature Answer {\n  """Answer briefly."""\n  in question: str\n  in k: int?\n'
                    '  out answer: str\n}\n')
    lm = fake([chat(answer="Paris")])
    prog = lmp.load(path)
    assert prog.Answer(question="Capital of France?").answer == "Paris"
    [call] = lm.history.records()
    assert call.predictor == "Answer" and "Answer briefly." in call.messages[0]["content"]
    with pytest.raises(LmpRuntimeError, match="Answer has no input `q`; its inputs are: question: str, k: int\\?"):
        prog.Answer(q="x")
    with pytest.raises(LmpRuntimeError, match="input `k` of Answer"):
        prog.Answer(question="x", k="two")


def test_lmp_run_a_signature_single_and_batch(fake, tmp_path, monkeypatch, capsys):
    shutil.copy(FIXTURES / "classify.lmp", tmp_path / "classify.lmp")
    monkeypatch.chdir(tmp_path)
    fake(default=ANSWER)
    assert main(["run", "classify.lmp", "ClassifyEvent", "-i", "event=Battle", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"category": "Wars and Conflicts", "confidence": 0.9}
    (tmp_path / "rows.jsonl").write_text('{"event": "a"}\n{"event": "b"}\n')
    assert main(["run", "classify.lmp", "ClassifyEvent", "--input", "rows.jsonl"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "rows.out.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["output"]["category"] == "Wars and Conflicts" for r in rows)
    assert main(["run", "classify.lmp", "Nope", "-i", "event=x"]) == 1
    assert "its modules are: Classify; its signatures: ClassifyEvent" in capsys.readouterr().err


def test_lmp_eval_takes_a_signature_and_optimize_points_to_the_module(fake, tmp_path, monkeypatch, capsys):
    shutil.copy(FIXTURES / "classify.lmp", tmp_path / "classify.lmp")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dev.jsonl").write_text('{"event": "a", "category": "Wars and Conflicts", "confidence": 0.9}\n')
    fake(default=ANSWER)
    assert main(["eval", "classify.lmp", "ClassifyEvent", "--dev", "dev.jsonl", "--metric", "exact_match",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 1.0
    # An unknown name was a bare KeyError in `lmp eval`.
    assert main(["eval", "classify.lmp", "Nope", "--dev", "dev.jsonl", "--metric", "exact_match"]) == 1
    assert "`Nope` is not a module or signature of classify.lmp" in capsys.readouterr().err
    assert main(["optimize", "classify.lmp", "ClassifyEvent", "--train", "dev.jsonl", "--metric", "exact_match"]) == 2
    assert "optimize Classify, which uses it" in capsys.readouterr().err
