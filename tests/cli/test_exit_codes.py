"""Exit codes say what happened: 1 when any row failed, 130 on Ctrl-C, a second Ctrl-C quits at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmp.runtime import settings
from lmp.runtime.lm import FakeLM, FakeServer, History
from tests.cli.cli_helpers import ECHO, chat, run, write_rows

GOOD = chat(answer="yes")


@pytest.fixture
def echo(tmp_path: Path) -> Path:
    prog = tmp_path / "echo.lmp"
    prog.write_text(ECHO)
    return prog


@pytest.fixture
def label(tmp_path: Path) -> Path:
    """A program whose answer must be "yes" or "no", so other text is a failed row."""
    prog = tmp_path / "label.lmp"
    prog.write_text(ECHO.replace("out answer: str", 'out answer: "yes" | "no"').replace(
        "-> (answer: str)", '-> (answer: "yes" | "no")'))
    return prog


def _dev(tmp_path: Path, n: int) -> Path:
    return write_rows(tmp_path / "dev.jsonl", [{"text": f"t{i}", "answer": "yes"} for i in range(n)])


def test_eval_where_every_row_fails_exits_1(tmp_path, label, capsys):
    # 6 rows one at a time: under the old default cap (at least 10) six failures were a "score" with exit 0.
    code, out, err = run(capsys, "eval", str(label), "--dev", str(_dev(tmp_path, 6)), "--metric", "exact_match",
                         "--model", "fake:not an answer", "--concurrency", "1")
    assert code == 1 and out == ""
    assert "4 rows failed (more than 3)" in err  # stopped early: the default cap is half the rows, as documented


def test_eval_whose_only_row_fails_shows_it_and_exits_1(tmp_path, label, capsys):
    # Every row ran, so the failure is shown in the table and the summary rather than cut short.
    code, out, _ = run(capsys, "eval", str(label), "--dev", str(_dev(tmp_path, 1)), "--metric", "exact_match",
                       "--model", "fake:not an answer", "--json")
    assert code == 1 and json.loads(out)["failed"] == 1


def test_eval_with_one_failed_row_prints_everything_then_exits_1(tmp_path, label, capsys):
    # Every message of row t2's conversation (the repair turn too) gets an answer that is not yes/no.
    def answer(messages: list[dict[str, str]]) -> str:
        return "not an answer" if any("t2" in m["content"] for m in messages) else GOOD

    settings.configure(lm=FakeLM(answer, history=History()))
    code, out, _ = run(capsys, "eval", str(label), "--dev", str(_dev(tmp_path, 4)), "--metric", "exact_match",
                       "--out", str(tmp_path / "res.jsonl"))
    assert code == 1
    assert "exact_match: 0.750" in out and "1 row(s) failed" in out and "ERROR" in out
    assert len((tmp_path / "res.jsonl").read_text().splitlines()) == 4
    code, out, _ = run(capsys, "eval", str(label), "--dev", str(_dev(tmp_path, 4)), "--metric", "exact_match",
                       "--json")
    assert code == 1 and json.loads(out)["failed"] == 1


def test_eval_where_every_row_scores_exits_0(tmp_path, echo, capsys):
    code, out, _ = run(capsys, "eval", str(echo), "--dev", str(_dev(tmp_path, 3)), "--metric", "exact_match",
                       "--model", "fake:" + GOOD)
    assert code == 0 and "exact_match: 1.000" in out


def test_max_errors_is_documented_as_it_behaves():
    from lmp.cli.main import build_parser

    text = build_parser().parse_args(["eval", "p.lmp", "--dev", "d", "--metric", "m"])
    assert text.max_errors is None
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    assert "stop once more than N rows have failed (default: half the rows, rounded down)" in docs


# ---------------------------------------------------------------- signals, as a user sees them


def _start_batch(tmp_path: Path, echo: Path, url: str, rows: int = 8) -> subprocess.Popen[str]:
    write_rows(tmp_path / "rows.jsonl", [{"text": f"t{i}"} for i in range(rows)])
    env = {**os.environ, "LMP_API_BASE_DEFAULT": url, "OPENAI_API_KEY": "sk-test-not-a-secret",
           "LMP_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("LMP_MODEL_DEFAULT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "lmp.cli.main", "run", str(echo), "--input", str(tmp_path / "rows.jsonl"),
         "--model", "default=openai/fake-model", "--concurrency", "2", "--no-cache"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # A suite started in the background by a non-interactive shell ignores SIGINT, and a child keeps an
    # ignored signal ignored (lmp honours that, like nohup): the child must get Ctrl-C's default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_rows(out: Path, n: int, proc: subprocess.Popen[str], deadline: float = 90) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if out.exists() and len(out.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the batch made no progress")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_interrupted_batch_exits_130_and_keeps_finished_rows(tmp_path, echo):
    with FakeServer(responder=lambda body: GOOD, latency=0.5) as srv:
        proc = _start_batch(tmp_path, echo, srv.url, rows=40)  # ~10 s of work: the interrupt lands mid-run
        out = tmp_path / "rows.out.jsonl"
        _wait_for_rows(out, 2, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "Rerun the same command to resume" in err
    assert all("output" in json.loads(line) for line in out.read_text().splitlines())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_second_interrupt_quits_without_waiting_for_calls_in_flight(tmp_path, echo):
    with FakeServer(responder=lambda body: GOOD, latency=0.3) as srv:
        proc = _start_batch(tmp_path, echo, srv.url, rows=40)
        out = tmp_path / "rows.out.jsonl"
        _wait_for_rows(out, 2, proc)
        srv.latency = 30.0  # the calls now in flight would hold a graceful exit for 30 s
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        quit_after = time.monotonic() - start
    assert proc.returncode == 130, err
    assert quit_after < 5, f"took {quit_after:.1f}s"
    assert "interrupted again: quitting now" in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_a_batch_like_ctrl_c(tmp_path, echo):
    with FakeServer(responder=lambda body: GOOD, latency=0.5) as srv:
        proc = _start_batch(tmp_path, echo, srv.url, rows=40)  # ~10 s of work: the interrupt lands mid-run
        _wait_for_rows(tmp_path / "rows.out.jsonl", 1, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Rerun the same command to resume" in err


def test_broken_pipe_exits_quietly(tmp_path):
    prog = tmp_path / "big.lmp"
    prog.write_text(ECHO + '\nexample Echo {\n  text: "' + "x" * 300_000 + '"\n  answer: "y"\n}\n')
    proc = subprocess.Popen([sys.executable, "-m", "lmp.cli.main", "preview", str(prog), "Echo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"predictor: E.p")
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait(60) == 141
    assert err == ""
