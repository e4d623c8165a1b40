from __future__ import annotations

import json
import shutil
import threading

import pytest

import lmp
from lmp.cli.main import main
from lmp.runtime import settings
from lmp.runtime.batch import completed, run_batch
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.lm import FakeLM, History
from tests.runtime.rt_helpers import FIXTURES, chat

CLASSIFY_ANSWER = chat(category="Wars and Conflicts", confidence=0.9)


def test_load_and_call_typed(fake):
    fake([CLASSIFY_ANSWER])
    prog = lmp.load(FIXTURES / "classify.lmp")
    out = prog.Classify(event="Battle")
    assert out.category == "Wars and Conflicts" and out.confidence == 0.9
    assert out.model_dump() == {"category": "Wars and Conflicts", "confidence": 0.9}
    assert prog.modules == ["Classify"] and "event" in repr(prog.Classify)
    with pytest.raises(AttributeError, match="has no module or signature `Nope`.*its signatures: ClassifyEvent"):
        prog.Nope  # noqa: B018


async def test_acall(fake):
    fake(default=CLASSIFY_ANSWER)
    prog = lmp.load(FIXTURES / "classify.lmp")
    out = await prog.Classify.acall(event="Battle")
    assert out.category == "Wars and Conflicts"


def test_load_refuses_checker_errors(tmp_path):
    bad = tmp_path / "bad.lmp"
    bad.write_text('signature S {\n  in q: str\n  out a: Strng\n}\n')
    with pytest.raises(lmp.api.ProgramError, match=r"(?s)1 error\(s\).*unknown type `Strng`"):
        lmp.load(bad)
    assert any(d.code == "E010" for d in lmp.check(bad))


def test_context_is_per_thread_and_configure_is_global():
    a, b = FakeLM(default=chat(category="Economic Events", confidence=0.1)), FakeLM(default=CLASSIFY_ANSWER)
    lmp.configure(lm=b)
    prog = lmp.load(FIXTURES / "classify.lmp")
    seen: dict[str, str] = {}

    def other_thread() -> None:
        seen["thread"] = prog.Classify(event="x").category

    with lmp.context(lm=a):
        seen["ctx"] = prog.Classify(event="x").category
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert seen == {"ctx": "Economic Events", "thread": "Wars and Conflicts"}


def test_model_roles_and_history():
    lm = FakeLM(default=CLASSIFY_ANSWER, history=settings.history())
    with lmp.context(lms={"default": lm}):
        lmp.load(FIXTURES / "classify.lmp").Classify(event="x")
    assert lmp.history(last=1)[0].response == CLASSIFY_ANSWER
    with lmp.context(models={"judge": "fake:J"}):
        assert settings.model_for(None, "judge")[0] == "fake:J"
        assert settings.model_for(None, "undeclared")[0] == "fake:NO MODEL CONFIGURED IN THIS TEST"


# ---------------------------------------------------------------- batch


def test_batch_resumes_and_retries_failures(tmp_path):
    rows = [{"x": i, "label": "gold"} for i in range(6)]
    out = tmp_path / "out.jsonl"
    calls: list[int] = []

    def flaky(inputs):
        calls.append(inputs["x"])
        if inputs["x"] == 3 and calls.count(3) == 1:
            raise LmpRuntimeError("boom")
        return {"y": inputs["x"] * 2}

    s1 = run_batch(flaky, rows, str(out), concurrency=3, input_keys={"x"}, progress=False)
    assert (s1.done, s1.failed) == (5, 1) and "boom" in s1.errors[0][1]
    s2 = run_batch(flaky, rows, str(out), concurrency=3, input_keys={"x"}, progress=False)
    assert (s2.skipped, s2.done, s2.failed) == (5, 1, 0)
    assert sorted(calls) == [0, 1, 2, 3, 3, 4, 5]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["_row"] for r in lines] == list(range(1, 7))  # compacted in input order, rows counted from 1
    assert lines[3]["output"] == {"y": 6} and lines[0]["input"] == {"x": 0}
    rows[2] = {"x": 20}  # a changed row is rerun
    s3 = run_batch(flaky, rows, str(out), concurrency=2, input_keys={"x"}, progress=False)
    assert (s3.skipped, s3.done) == (5, 1) and completed(str(out))[3]["output"] == {"y": 40}


def test_batch_interrupt_keeps_finished_rows(tmp_path):
    out = tmp_path / "out.jsonl"
    rows = [{"x": i} for i in range(5)]

    def stop_at_3(inputs):
        if inputs["x"] == 3:
            raise KeyboardInterrupt
        return {"y": inputs["x"]}

    # A KeyboardInterrupt inside a worker is an error of that row; the others are kept.
    s = run_batch(stop_at_3, rows, str(out), concurrency=1, progress=False)
    assert s.done == 4 and len(completed(str(out))) == 4


# ---------------------------------------------------------------- CLI


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for name in ("classify.lmp", "multihop.lmp"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    shutil.copytree(FIXTURES / "rag", tmp_path / "rag")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_run_json_and_human(workdir, capsys):
    model = "default=fake:" + CLASSIFY_ANSWER
    assert main(["run", "classify.lmp", "-i", "event=Battle", "--model", model, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"category": "Wars and Conflicts", "confidence": 0.9}
    assert main(["run", "classify.lmp", "Classify", "-i", "event=Battle", "--model", model, "--trace"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "category: Wars and Conflicts\nconfidence: 0.9\n"
    assert "── call 1: fake:" in cap.err and "[[ ## event ## ]]" in cap.err
    assert main(["history", "--last", "1"]) == 0
    assert "Classify.classify" in capsys.readouterr().out
    assert main(["history", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_cli_errors_are_one_paragraph(workdir, capsys):
    assert main(["run", "classify.lmp", "--model", "fake:x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Classify needs the input `event`") and "Traceback" not in err
    assert main(["run", "classify.lmp", "Nope", "-i", "event=x"]) == 1
    assert "its modules are: Classify" in capsys.readouterr().err
    assert main(["run", "classify.lmp", "-i", "event=x", "--model", "fake:nonsense"]) == 1
    err = capsys.readouterr().err
    assert "could not be parsed into field `category` (Category)" in err and "Raw output" in err


def test_cli_batch(workdir, capsys):
    (workdir / "rows.jsonl").write_text("".join(json.dumps({"event": f"e{i}", "category": "gold"}) + "\n" for i in range(4)))
    model = "default=fake:" + CLASSIFY_ANSWER
    assert main(["run", "classify.lmp", "--input", "rows.jsonl", "--model", model, "--concurrency", "2"]) == 0
    assert "4 row(s) done" in capsys.readouterr().err
    rows = [json.loads(line) for line in (workdir / "rows.out.jsonl").read_text().splitlines()]
    assert [r["output"]["category"] for r in rows] == ["Wars and Conflicts"] * 4
    assert main(["run", "classify.lmp", "--input", "rows.jsonl", "--model", model]) == 0
    assert "0 row(s) done, 4 already done" in capsys.readouterr().err


def test_cli_preview(workdir, capsys):
    assert main(["preview", "classify.lmp", "ClassifyEvent", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["example"] == "ClassifyEvent" and data["messages"][0]["role"] == "system"
    assert main(["preview", "multihop.lmp", "gen_query", "-i", 'context=["a"]']) == 0
    out = capsys.readouterr().out
    assert "──── user · ≈" in out and "[1] a" in out
    assert main(["preview", "classify.lmp", "Classify.classify", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "ClassifyEvent"


def test_help_does_not_import_litellm():
    import subprocess
    import sys

    code = "import sys; from lmp.cli.main import build_parser; build_parser(); print('litellm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_history_object_is_shared():
    assert isinstance(settings.history(), History)
