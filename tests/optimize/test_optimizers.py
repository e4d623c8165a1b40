"""Every optimizer measurably improves the toy task; pipelines; resume; budget; runtime features."""

from __future__ import annotations

import json

import pytest

import lmp
from lmp.optimize.context import OptimizeContext, Reporter
from lmp.optimize.evaluate import evaluate
from lmp.optimize.optimizers import get_optimizer
from lmp.optimize.run import checkpoint_path, optimize
from lmp.optimize.runner import Runner
from lmp.optimize.state import load_state, validate
from tests.optimize import toy
from tests.optimize.opt_helpers import setup


@pytest.mark.parametrize("name", ["labeled", "bootstrap", "random-search", "knn", "copro", "mipro", "ensemble"])
def test_every_optimizer_improves_the_toy_task(name, tmp_path, models):
    handle, train, dev, metric = setup(tmp_path)
    out = tmp_path / f"{name}.state.json"
    res = optimize(handle, optimizer=name, trainset=train, devset=dev, metric=metric, output=str(out),
                   prompt_model="prompt", reporter=Reporter(quiet=True), concurrency=2)
    assert res.before == pytest.approx(0.5)
    assert res.after >= 0.9, (name, res.after)
    data = json.loads(out.read_text())
    assert validate(data) == []
    assert data["optimizer"]["name"] == name
    assert data["scores"]["dev_before"] == pytest.approx(0.5) and data["scores"]["dev_after"] == res.after
    assert not (tmp_path / f"{name}.state.ckpt.json").exists()  # removed once the state is written
    # The runtime applies the state file by itself (knn and ensemble through lmp.runtime.trace).
    again = lmp.load(toy.FIXTURES / "toy.lmp", state=str(out))
    r = evaluate(Runner(again, "Classify"), dev, metric, concurrency=1)
    assert r.score == pytest.approx(res.after)


def test_a_broken_optimizer_does_not_improve(tmp_path, models):
    # Labeled demos with no shared words give nothing: the fake is not fooled by demos as such.
    handle, train, dev, metric = setup(tmp_path)
    for ex in train:
        ex.inputs["text"] = "movie"
    state = get_optimizer("labeled", k=4).compile(handle, train, metric, dev)
    r = evaluate(Runner(handle, "Classify"), dev, metric, state.predictors, concurrency=1)
    assert r.score == pytest.approx(0.5)


def test_copro_and_mipro_pick_the_proposed_instruction(tmp_path, models):
    handle, train, dev, metric = setup(tmp_path)
    for name in ("copro", "mipro"):
        state = get_optimizer(name).compile(handle, train, metric, dev, ctx=OptimizeContext(prompt_model="prompt"))
        assert "polarity" in (state.predictors["Classify.classify"].instructions or ""), name
        assert state.prompt_model == "fake-prompt"


def test_bootstrap_gives_demos_to_the_intermediate_predictor(tmp_path, models):
    handle, train, dev, metric = setup(tmp_path, "pipe.lmp", "Pipe")
    state = get_optimizer("bootstrap").compile(handle, train, metric, dev)
    assert set(state.predictors) == {"Pipe.extract", "Pipe.decide"}
    extract = state.predictors["Pipe.extract"].demos
    assert extract and all(d["augmented"] for d in extract)
    assert set(extract[0]["inputs"]) == {"text"} and set(extract[0]["outputs"]) == {"keywords"}
    decide = state.predictors["Pipe.decide"].demos
    assert decide and set(decide[0]["inputs"]) == {"keywords"}
    # Only runs that passed the metric became demos: zero-shot `decide` says "neg", so those are the neg rows.
    assert {d["outputs"]["label"] for d in decide} == {"neg"}


def test_resume_after_a_crash_does_not_redo_finished_trials(tmp_path, models, monkeypatch):
    task, _ = models
    handle, train, dev, metric = setup(tmp_path)
    out = str(tmp_path / "rs.state.json")
    from lmp.optimize.optimizers import base

    real = base.Optimizer.evaluate
    count = {"n": 0}

    def crashing(self, *a, **kw):
        count["n"] += 1
        if count["n"] == 5:
            raise KeyboardInterrupt  # Ctrl-C in the middle of trial 5
        return real(self, *a, **kw)

    monkeypatch.setattr(base.Optimizer, "evaluate", crashing)
    settings = {"num_candidate_programs": 4}
    with pytest.raises(KeyboardInterrupt):
        optimize(handle, optimizer="random-search", trainset=train, devset=dev, metric=metric, output=out,
                 settings=settings, reporter=Reporter(quiet=True), concurrency=1)
    assert (tmp_path / "rs.state.ckpt.json").exists() and checkpoint_path(out).endswith("rs.state.ckpt.json")
    monkeypatch.setattr(base.Optimizer, "evaluate", real)
    calls_before = len(task.calls)
    reports = []
    rep = Reporter(quiet=True, callback=reports.append)
    optimize(lmp.load(toy.FIXTURES / "toy.lmp"), optimizer="random-search", trainset=train, devset=dev,
             metric=metric, output=out, settings=settings, reporter=rep, concurrency=1)
    resumed = [r.trial for r in reports if r.resumed]
    assert resumed == [1, 2, 3, 4]  # finished trials come from the checkpoint
    assert [r.trial for r in reports if not r.resumed] == [5, 6, 7]
    # Only trials 5-7 and the after-evaluation cost calls; the dev baseline was checkpointed too.
    assert len(task.calls) - calls_before <= 4 * len(dev)
    assert load_state(out).scores["dev_after"] >= 0.9


def test_budget_is_respected(tmp_path, models):
    task, _ = models
    handle, train, dev, metric = setup(tmp_path)
    out = tmp_path / "b.json"
    res = optimize(handle, optimizer="random-search", trainset=train, devset=dev, metric=metric, output=str(out),
                   budget=40, reporter=Reporter(quiet=True), concurrency=1)
    # The search stops at the budget (the final dev evaluation of the winner is extra).
    assert res.calls <= 40 + len(dev)
    assert load_state(str(out)).scores.get("budget_exhausted") is True


def test_knn_picks_demos_per_input(tmp_path, models):
    task, _ = models
    handle, train, dev, metric = setup(tmp_path)
    state = get_optimizer("knn", k=1).compile(handle, train, metric, dev)
    ps = state.predictors["Classify.classify"]
    assert ps.knn["k"] == 1 and len(ps.knn["pool"]) >= 8
    path = tmp_path / "knn.json"
    state.save(path)
    prog = lmp.load(toy.FIXTURES / "toy.lmp", state=str(path))
    text = train[3].inputs["text"]
    prog.Classify(text=text)
    shown = task.calls[-1]["messages"]
    assert len(shown) == 4  # system, one demo pair, the question
    assert toy.words(text) & toy.words(shown[1]["content"])  # the nearest demo shares words


def test_ensemble_of_state_files(tmp_path, models):
    handle, train, dev, metric = setup(tmp_path)
    paths = []
    for k in (2, 4, 8):
        st = get_optimizer("labeled", k=k).compile(handle, train, metric, dev)
        p = tmp_path / f"m{k}.json"
        st.save(p)
        paths.append(str(p))
    res = optimize(handle, optimizer="ensemble", trainset=train, devset=dev, metric=metric,
                   settings={"members": paths}, output=str(tmp_path / "ens.json"), reporter=Reporter(quiet=True))
    assert len(res.state.predictors["Classify.classify"].ensemble) == 3
    assert res.after > res.before


def test_lm_judge_metric_runs_on_its_role(tmp_path, models):
    task, _ = models
    handle, train, dev, _ = setup(tmp_path)
    from lmp.optimize.metrics import resolve_metric

    judged = resolve_metric("judged", handle)
    assert judged.program_metric
    res = optimize(handle, optimizer="bootstrap", trainset=train, devset=dev, metric=judged,
                   reporter=Reporter(quiet=True), concurrency=1)
    assert res.after > res.before
    # Judge calls are not part of the optimized program's traces: no demo for the metric's predictor.
    assert "judged.judge" not in res.state.predictors
    assert any(c["params"].get("predictor") == "judged.judge" for c in task.calls)


def test_mipro_on_a_large_dev_set_scores_minibatches_then_fully_evaluates_the_best(tmp_path, models):
    task, _prompt = models
    handle, train, dev, metric = setup(tmp_path, n_dev=40)
    before = len(task.history.records())
    opt = get_optimizer("mipro", minibatch_size=10, minibatch_full_eval_steps=2, num_trials=4)
    lines: list[str] = []
    ctx = OptimizeContext(prompt_model="prompt")
    ctx.reporter.info = lines.append  # type: ignore[method-assign]
    state = opt.compile(handle, train, metric, dev, ctx=ctx)
    assert "polarity" in (state.predictors["Classify.classify"].instructions or "")
    full_evals = [line for line in lines if line.startswith("full evaluation after trial")]
    assert [line.split(":")[0] for line in full_evals] == ["full evaluation after trial 2",
                                                           "full evaluation after trial 4"]
    # 4 minibatch trials of 10 rows and 2 full evaluations of 40 (plus dev before/after and bootstrap)
    # cost well under 4 full evaluations of every trial would.
    task_calls = len(task.history.records()) - before
    assert task_calls < 4 * 40 + 2 * 40 + len(train) + 40


def test_a_trial_whose_answers_do_not_parse_scores_zero_instead_of_ending_the_run(tmp_path, models):
    from lmp.runtime import settings
    from lmp.runtime.lm import FakeLM, History

    _task, prompt = models

    def weak_on_variants(messages):
        # The original instruction gets every label wrong (so no early stop spares the trials after it);
        # the proposed "variant" instructions make the model ramble: no parsable answer at all.
        objective = messages[0]["content"].split("your objective is:")[-1]
        if "variant" in objective:
            return "Sure! Here is some Python code instead."
        if "polarity" not in objective:
            right = toy.sections(toy.task_answer(messages))["label"]
            return toy.chat(label="neg" if right == "pos" else "pos")
        return toy.task_answer(messages)

    task = FakeLM(weak_on_variants, history=History())
    settings.configure(lm=task, history=task.history, lms={"prompt": prompt})
    handle, train, dev, metric = setup(tmp_path)
    state = get_optimizer("mipro", num_trials=6).compile(handle, train, metric, dev,
                                                        ctx=OptimizeContext(prompt_model="prompt"))
    assert "polarity" in (state.predictors["Classify.classify"].instructions or "")
