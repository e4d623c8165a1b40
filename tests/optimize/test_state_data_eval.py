"""State files (schema, changed signatures, secrets), datasets, metrics, evaluation and the CLI."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

import lmp
from lmp.cli.main import main
from lmp.optimize.data import DatasetError, load_dataset
from lmp.optimize.diff import diff_states
from lmp.optimize.evaluate import evaluate, format_summary, format_table, wilson
from lmp.optimize.metrics import MetricError, resolve_metric
from lmp.optimize.optimizers import get_optimizer
from lmp.optimize.runner import Runner
from lmp.optimize.state import StateError, load_state, validate
from lmp.runtime.state import StateWarning
from tests.optimize import toy
from tests.optimize.opt_helpers import setup


def test_builtin_metrics():
    from lmp.optimize.data import Example

    ex = Example({"q": "x"}, {"answer": "The Eiffel Tower", "n": 3})
    assert resolve_metric("exact_match:answer")(ex, {"answer": "The Eiffel Tower"}) == 1.0
    assert resolve_metric("em:answer")(ex, {"answer": "the eiffel tower"}) == 0.0
    assert resolve_metric("normalized_match:answer")(ex, {"answer": "eiffel tower!"}) == 1.0
    assert resolve_metric("f1:answer")(ex, {"answer": "Eiffel"}) == pytest.approx(2 / 3)
    assert resolve_metric("contains:answer")(ex, {"answer": "It is the Eiffel Tower, in Paris"}) == 1.0
    assert resolve_metric("numeric:n")(ex, {"n": "about 3"}) == 1.0
    assert resolve_metric("numeric:n@0.5")(ex, {"n": 3.4}) == 1.0
    assert resolve_metric("numeric:n")(ex, {"n": 3.4}) == 0.0
    with pytest.raises(MetricError, match="not a built-in"):
        resolve_metric("nope")


def test_dataset_errors_name_file_and_line(tmp_path):
    handle = lmp.load(toy.FIXTURES / "toy.lmp")
    mod = handle.program.modules["Classify"]
    bad = tmp_path / "bad.jsonl"
    cases = {
        '{"text": "a", "label": "pos"}\n{"text": "b"\n': r"bad.jsonl:2: not valid JSON",
        '{"text": "a", "topic": "x"}\n': r"bad.jsonl:1: `topic` is not an input or output of Classify",
        '{"text": "a", "label": "meh"}\n': r"bad.jsonl:1: gold `label`",
        '{"label": "pos"}\n': r"bad.jsonl:1: missing the input `text`",
        "\n": r"empty",
    }
    for text, pattern in cases.items():
        bad.write_text(text)
        with pytest.raises(DatasetError, match=pattern):
            load_dataset(bad, mod)


def test_state_file_schema_hashes_and_no_secrets(tmp_path, models):
    handle, train, dev, metric = setup(tmp_path)
    opt = get_optimizer("labeled", k=2)
    state = opt.compile(handle, train, metric, dev)
    state.settings["api_key"] = "sk-abcdefghijklmnopqrstuvwxyz"
    state.settings["note"] = "key sk-abcdefghijklmnopqrstuvwxyz1234"
    state.task_model = "openai/gpt-4o?api_key=supersecretvalue123"
    path = tmp_path / "s.json"
    state.save(path)
    text = path.read_text()
    assert "sk-abcdefghijklmnop" not in text and "supersecretvalue123" not in text
    data = json.loads(text)
    assert validate(data) == []
    assert list(data) == sorted(data)  # sorted keys: diffable
    assert "api_key" not in data["optimizer"]["settings"]
    state.cost = {"tokens": 5, "calls": 1}
    state.save(path)
    assert json.loads(path.read_text())["cost"]["tokens"] == 5  # "tokens" is not a secret
    ps = data["predictors"]["Classify.classify"]
    assert ps["signature_hash"].startswith("sha256:") and len(ps["demos"]) == 2
    assert data["program"]["hash"].startswith("sha256:")
    # Invalid files are refused with the schema's reason.
    broken = dict(data, predictors={"Classify.classify": {"demos": "x"}})
    with pytest.raises(StateError, match="schema"):
        load_state(broken)
    # A changed signature is detected and named.
    changed = tmp_path / "toy.lmp"
    shutil.copy(toy.FIXTURES / "toy.lmp", changed)
    changed.write_text(changed.read_text().replace('"pos" | "neg"', '"pos" | "neg" | "mixed"'))
    prog = lmp.load(changed, state=None).program
    with pytest.raises(StateError, match="signature of `Classify.classify` changed"):
        load_state(path, prog)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lenient = load_state(path, prog, strict=False)
    assert "Classify.classify" not in lenient.predictors
    assert any(issubclass(w.category, StateWarning) and "Classify.classify" in str(w.message) for w in caught)


def test_eval_table_ci_and_resume(tmp_path, models):
    task, _ = models
    handle, train, dev, metric = setup(tmp_path)
    out = tmp_path / "results.jsonl"
    res = evaluate(Runner(handle, "Classify"), dev, metric, concurrency=3, out=str(out))
    assert res.score == pytest.approx(0.5) and res.n == 16
    assert res.ci == pytest.approx(wilson(8, 16))
    lo, hi = res.ci
    assert lo < 0.5 < hi
    table = format_table(res)
    assert "prediction" in table and "good movie" in table.replace("  ", " ") or "movie" in table
    assert "95% CI" in format_summary(res, "exact_match")
    assert len(out.read_text().splitlines()) == 16
    n = len(task.calls)
    again = evaluate(Runner(handle, "Classify"), dev, metric, concurrency=3, out=str(out))
    assert again.resumed == 16 and len(task.calls) == n and again.score == res.score


def test_metric_errors_are_reported_not_fatal(tmp_path, models):
    handle, train, dev, _ = setup(tmp_path)
    from lmp.optimize.metrics import Metric

    def flaky(ex, pred):
        if ex.inputs["text"] == dev[0].inputs["text"]:
            raise ValueError("boom")
        return 1.0

    res = evaluate(Runner(handle, "Classify"), dev, Metric("flaky", flaky), concurrency=1)
    assert res.score == pytest.approx(15 / 16)
    assert len(res.failed) == 1 and "boom" in res.failed[0].metric_error


def test_diff_state(tmp_path, models):
    handle, train, dev, metric = setup(tmp_path)
    a = get_optimizer("labeled", k=2).compile(handle, train, metric, dev)
    b = get_optimizer("labeled", k=3).compile(handle, train, metric, dev)
    b.predictors["Classify.classify"].instructions = "Decide the polarity of the text."
    b.scores["dev_after"] = 0.9
    a.scores["dev_after"] = 0.6
    text = diff_states(a, b, "a.json", "b.json")
    assert "instructions:" in text and "+Decide the polarity of the text." in text
    assert "added" in text and "dev_after: 0.600 -> 0.900 (+30.0pt)" in text


def test_cli_eval_optimize_diff(tmp_path, models, capsys):
    prog = toy.FIXTURES / "toy.lmp"
    train = toy.write(tmp_path / "train.jsonl", toy.rows(12, 1))
    dev = toy.write(tmp_path / "dev.jsonl", toy.rows(12, 2))
    s1, s2 = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["eval", str(prog), "--dev", dev, "--metric", "exact_match", "--concurrency", "2"]) == 0
    out = capsys.readouterr().out
    assert "exact_match: 0.500 (95% CI" in out and "prediction" in out
    assert main(["optimize", str(prog), "--train", train, "--dev", dev, "--metric", "exact_match",
                 "--optimizer", "labeled", "--set", "k=2", "-o", str(s1)]) == 0
    assert main(["optimize", str(prog), "--train", train, "--dev", dev, "--metric", "exact_match",
                 "--optimizer", "bootstrap", "-o", str(s2)]) == 0
    out = capsys.readouterr().out
    assert "dev before" in out and "dev after" in out and "state written" in out
    assert main(["eval", str(prog), "--dev", dev, "--metric", "exact_match", "--state", str(s2), "--rows", "0"]) == 0
    score = float(capsys.readouterr().out.split("exact_match: ")[1].split()[0])
    assert score > 0.5
    assert main(["diff-state", str(s1), str(s2)]) == 0
    out = capsys.readouterr().out
    assert "optimizer: labeled" in out and "demos:" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "maybe"}\n')
    assert main(["eval", str(prog), "--dev", str(bad), "--metric", "exact_match"]) == 1
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_optimize_warns_when_dev_got_worse(capsys):
    from types import SimpleNamespace

    from lmp.cli.cmd_optimize import print_comparison
    from lmp.optimize.state import State

    state = State(program_path="p.lmp", program_hash="0", optimizer="bootstrap", module="M")
    res = SimpleNamespace(state=state, before=0.5, after=0.25, calls=3, cached_calls=0, tokens=10, cost=0.0)
    print_comparison(res, "exact_match", "p.state.json")
    captured = capsys.readouterr()
    assert "state written to p.state.json" in captured.out
    assert "scored LOWER on dev" in captured.err and "0.500 -> 0.250" in captured.err
    res.after = 0.75
    print_comparison(res, "exact_match", "p.state.json")
    assert "LOWER" not in capsys.readouterr().err
