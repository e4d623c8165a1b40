"""`lmp run --stream`: fields printed as they arrive (fake model), and the embedded model streaming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from lmp.cli.main import main
from lmp.runtime.lm.local import INSTALL_HINT, find_local_model
from tests.runtime.rt_helpers import chat

PROGRAM = '''\
type Verdict = "yes" | "no"

module QA(question: str) -> (verdict: Verdict, score: float, answer: str) {
  let ans = ChainOfThought("question -> verdict: Verdict, score: float, answer")
  return ans(question: question)
}
'''

ANSWER = chat(reasoning="Light scatters.\nBlue scatters most.", verdict="yes", score="0.5", answer="Blue.")


@pytest.fixture
def qa(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa.lmp").write_text(PROGRAM)
    return "qa.lmp"


def test_run_stream_prints_each_field_once_reasoning_first(qa, capsys):
    assert main(["run", qa, "-i", "question=why", "--stream", "--model", "fake:" + ANSWER]) == 0
    out = capsys.readouterr().out
    assert out == ("reasoning: Light scatters.\nBlue scatters most.\n"
                   "verdict: yes\nscore: 0.5\nanswer: Blue.\n")


def test_run_stream_json_events_end_with_the_result(qa, capsys):
    assert main(["run", qa, "-i", "question=why", "--stream", "--json", "--model", "fake:" + ANSWER]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1] == {"event": "result", "output": {"verdict": "yes", "score": 0.5, "answer": "Blue."}}
    partials = events[:-1]
    assert all(e["event"] == "partial" and e["predictor"] == "QA.ans" for e in partials)
    assert {e["fields"]["score"] for e in partials} == {None, 0.5}
    assert [e["call"]["reasoning"] for e in partials if e["call"]["reasoning"]][0] == "Light"


def test_run_stream_after_a_repair_prints_the_final_values(qa, capsys):
    bad = chat(reasoning="r", verdict="perhaps", score="0.1", answer="?")
    from lmp.runtime import settings
    from lmp.runtime.lm import FakeLM

    settings.configure(lm=FakeLM([bad, ANSWER]))
    from lmp.api import load
    from lmp.cli.run_stream import print_stream
    from lmp.runtime.streaming import stream_module

    handle = load(qa)
    final = print_stream(stream_module(handle.interpreter, "QA", {"question": "q"}), as_json=False)
    cap = capsys.readouterr()
    assert final.verdict == "yes"
    assert "QA.ans: the answer could not be parsed; repair attempt" in cap.err
    assert cap.out.endswith("verdict: yes\nscore: 0.5\nanswer: Blue.\n")


def test_run_stream_refuses_a_batch(qa, tmp_path, capsys):
    (tmp_path / "rows.jsonl").write_text('{"question": "q"}\n')
    assert main(["run", qa, "--input", "rows.jsonl", "--stream", "--model", "fake:x"]) == 2
    assert "--stream shows one run" in capsys.readouterr().err


@pytest.mark.local_model
@pytest.mark.skipif(find_local_model() is None, reason=f"the embedded local model is not installed ({INSTALL_HINT})")
def test_embedded_model_streams_in_lmp_run(qa, monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMP_MODEL_")}
    command = [sys.executable, "-m", "lmp.cli.main", "run", qa, "-i", "question=Why is the sky blue?",
               "--stream", "--json", "--no-cache", "--model", "local"]
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        lines = [(line, time.perf_counter() - start) for line in proc.stdout]  # type: ignore[union-attr]
        err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.returncode in (0, 1), err
    events = [(json.loads(line), t) for line, t in lines if line.strip()]
    with_text = [(e, t) for e, t in events if e["event"] == "partial" and any(v for v in e["call"].values())]
    assert len(with_text) >= 2, (events, err)
    end = events[-1][1]
    # the chunks were printed while the model was still writing, not all at the end
    assert with_text[0][1] < end - 0.1, [t for _, t in events]
    if proc.returncode == 0:
        assert events[-1][0]["event"] == "result"
