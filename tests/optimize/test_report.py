"""`--report`: the trajectory page (score per trial, lineage and Pareto frontier, cost per phase, rejected
proposals, instruction diffs) and the same data as JSON; a terminal summary after every run."""

from __future__ import annotations

import json

from lmp.optimize import report as rep
from lmp.optimize.context import Reporter
from lmp.optimize.run import optimize
from lmp.runtime import settings
from lmp.runtime.lm import FakeLM
from tests.optimize import toy
from tests.optimize.opt_helpers import setup
from tests.tooling import missing


def need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        missing("matplotlib (the report extra) is not installed", "pip install -e '.[report]'")


def junk_sometimes(messages):
    tip = toy.sections(messages[-1]["content"]).get("tip", "")
    if "Proposal 2 " in tip:
        return toy.chat(proposed_instruction='{"label": "pos", "type": "object"}')
    return toy.proposal_answer(messages)


def run_mipro(tmp_path, models):
    task, _ = models
    settings.configure(lm=task, history=task.history,
                       lms={"prompt": FakeLM(junk_sometimes, model="fake-prompt", history=task.history)})
    handle, train, dev, metric = setup(tmp_path)
    reporter = Reporter(quiet=True)
    res = optimize(handle, optimizer="mipro", trainset=train, devset=dev, metric=metric, settings={"num_trials": 8},
                   output=str(tmp_path / "m.json"), prompt_model="prompt", reporter=reporter, concurrency=1)
    data = rep.report_data(res, handle=handle, module="Classify", optimizer="mipro", metric=metric.name,
                           proposals=reporter.proposals, state_path=str(tmp_path / "m.json"))
    return res, data


def test_report_data_holds_the_trajectory_costs_rejections_and_diffs(tmp_path, models):
    res, data = run_mipro(tmp_path, models)
    assert [t["trial"] for t in data["trials"]] == list(range(1, 9))
    assert [t["score"] for t in data["trials"]] == [t.score for t in res.trials]
    assert sum(t["paid"] for t in data["trials"]) == data["phases"]["trials"]["calls"]
    assert list(data["phases"]) == ["baseline", "bootstrap", "proposals", "trials", "final"]
    # dev has 16 rows, so every trial was a full dev evaluation: the winner's final score is already known.
    assert data["phases"]["final"]["calls"] == data["phases"]["final"]["cached_calls"] == 0
    assert data["total"]["calls"] == res.calls
    assert data["scores"]["dev_before"] == 0.5 and data["scores"]["dev_after"] == res.after
    assert {e["reason"] for e in data["proposals"]["rejected"]} == {"schema"}
    (d,) = data["instructions"]
    assert d["predictor"] == "Classify.classify" and d["before"] == "Label the text."
    if "polarity" in d["after"]:
        assert d["changed"] and ["+", "Decide the polarity of the text."] in d["words"] or any(
            op == "+" and "polarity" in text for op, text in d["words"])
    text = rep.summary(data)
    assert text.startswith("trajectory: 8 trial(s) ") and "proposals: 7 proposed, 4 accepted, 3 rejected" in text
    # Proposal 2 was a JSON object three times (the answer and two retries), then its slot was given up.


def test_the_page_has_plots_tables_and_the_json_beside_it(tmp_path, models):
    need_matplotlib()
    _, data = run_mipro(tmp_path, models)
    html_path, json_path, plotted = rep.write_report(data, str(tmp_path / "out" / "report.html"))
    assert plotted and html_path.endswith("out/report.html") and json_path.endswith("out/report.json")
    page = open(html_path, encoding="utf-8").read()
    assert page.count("<svg") == 2  # score per trial, cost per phase (no lineage in a mipro run)
    assert "Dev score per trial" in page and "Cost per phase" in page and "teacher traces" in page
    assert "rejected: schema" in page and "accepted</td>" in page
    assert "<del>" in page or "unchanged" in page
    assert json.loads(open(json_path, encoding="utf-8").read())["trials"] == data["trials"]


def test_without_matplotlib_the_page_says_how_to_get_plots(tmp_path, models, monkeypatch):
    _, data = run_mipro(tmp_path, models)
    monkeypatch.setattr(rep, "_matplotlib", lambda: None)
    html_path, json_path, plotted = rep.write_report(data, str(tmp_path / "r.html"))
    page = open(html_path, encoding="utf-8").read()
    assert not plotted and "<svg" not in page
    assert "pip install 'lmp[report]'" in page and "<table>" in page


LINEAGE = {"chosen": 3, "path": [0, 1, 3], "frontier": [2, 3],
           "candidates": [
               {"id": 0, "parents": [], "origin": "seed", "dev_score": 0.5, "frontier_wins": 0},
               {"id": 1, "parents": [0], "origin": "reflect", "predictor": "Classify.classify", "dev_score": 0.6,
                "frontier_wins": 0, "feedback": ["the label ignores the words"]},
               {"id": 2, "parents": [0], "origin": "reflect", "predictor": "Classify.classify", "dev_score": 0.55,
                "frontier_wins": 2},
               {"id": 3, "parents": [1, 2], "origin": "merge", "dev_score": 0.8, "frontier_wins": 9}]}


def test_a_run_with_a_lineage_shows_candidates_the_frontier_and_the_chosen_path(tmp_path, models):
    need_matplotlib()
    _, data = run_mipro(tmp_path, models)
    data["lineage"] = LINEAGE
    html_path, _, _ = rep.write_report(data, str(tmp_path / "g.html"))
    page = open(html_path, encoding="utf-8").read()
    assert page.count("<svg") == 3 and "Pareto frontier" in page
    assert "<td>3 ★</td><td class='l'>merge</td><td>1, 2</td>" in page
    assert "the label ignores the words" in page
    assert "candidates: 4 · Pareto frontier [2, 3] · chosen 3 (path 0 -> 1 -> 3)" in rep.summary(data)


def test_word_diff_and_sparkline():
    assert rep.word_diff("Label the text.", "Decide the polarity of the text.") == [
        ["-", "Label"], ["+", "Decide the polarity of"], ["=", "the text."]]
    assert rep.sparkline([0.0, 0.5, None, 1.0]) == "▁▄·█"  # · a trial stopped early
    assert rep.report_paths("x/report.html") == ("x/report.html", "x/report.json")
    assert rep.report_paths("x/run") == ("x/run.html", "x/run.json")


def test_lmp_optimize_report_writes_the_page_and_prints_the_summary(tmp_path, models, capsys):
    from lmp.cli.main import main

    train = toy.write(tmp_path / "train.jsonl", toy.rows(12, 1))
    dev = toy.write(tmp_path / "dev.jsonl", toy.rows(8, 2))
    rc = main(["optimize", str(toy.FIXTURES / "toy.lmp"), "--train", train, "--dev", dev, "--metric", "exact_match",
               "--optimizer", "random-search", "--set", "num_candidate_programs=2", "-o", str(tmp_path / "s.json"),
               "--report", str(tmp_path / "rep.html"), "--concurrency", "1"])
    out = capsys.readouterr()
    assert rc == 0
    assert "trajectory: 5 trial(s)" in out.out and f"report written to {tmp_path / 'rep.html'}" in out.out
    assert "teacher traces" in out.out and "calls paid" in out.out  # the cost table
    assert "calls paid + " in out.err  # trial lines
    data = json.loads((tmp_path / "rep.json").read_text())
    assert data["optimizer"] == "random-search" and len(data["trials"]) == 5
    assert (tmp_path / "rep.html").read_text().startswith("<!doctype html>")


def test_a_real_gepa_run_reports_its_lineage_and_reflections(tmp_path):
    import lmp
    from lmp.optimize.budget import BudgetSpec
    from lmp.optimize.data import load_dataset
    from lmp.optimize.metrics import resolve_metric
    from tests.optimize import gepa_task

    task, reflector = gepa_task.models()
    settings.configure(lm=task, history=task.history, lms={"reflect": reflector, "prompt": reflector})
    handle = lmp.load(gepa_task.FIXTURE)
    mod = handle.program.modules["Loud"]
    train_path, dev_path = gepa_task.datasets(tmp_path)
    train = load_dataset(train_path, mod, require_gold=False)
    dev = load_dataset(dev_path, mod, require_gold=False)
    metric = resolve_metric("graded", handle)
    reporter = Reporter(quiet=True)
    res = optimize(handle, optimizer="gepa", trainset=train, devset=dev, metric=metric, budget=BudgetSpec(calls=60),
                   output=str(tmp_path / "g.json"), prompt_model="prompt", reporter=reporter, concurrency=1)
    data = rep.report_data(res, handle=handle, module="Loud", optimizer="gepa", metric=metric.name,
                           proposals=reporter.proposals)
    lin = data["lineage"]
    assert lin and lin["chosen"] in lin["frontier"] and data["scores"]["dev_after"] == 1.0
    assert "reflection" in data["phases"] and data["phases"]["reflection"]["calls"] >= 1
    (d,) = data["instructions"]
    assert d["changed"] and any(op == "+" and "uppercase" in text.lower() for op, text in d["words"])
    need_matplotlib()
    html_path, _, _ = rep.write_report(data, str(tmp_path / "gepa.html"))
    page = open(html_path, encoding="utf-8").read()
    assert page.count("<svg") == 3 and "Candidates and the Pareto frontier" in page and " ★</td>" in page
    assert "reflection (gepa)" in page
