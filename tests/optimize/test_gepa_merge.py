"""GEPA's merge end to end: two lineages that each fixed a different predictor are combined.

Scripted task (fixtures/pair.lmp): `a` must answer in upper case, `b` reversed. Untold, `a` gets the
short city names right and `b` the long ones; told (the instruction says what the feedback points at),
each gets every row right. So "fix a" and "fix b" are each best on different rows, and only a candidate
with both instructions is perfect. A tiny weight on prompt tokens keeps the shorter seed on the frontier,
so the seed is reflected on twice and two sibling lineages appear (what GEPA's frontier is for).
"""

from __future__ import annotations

import json

import lmp
from lmp.optimize.context import Reporter
from lmp.optimize.data import load_dataset
from lmp.optimize.metrics import resolve_metric
from lmp.optimize.run import optimize
from lmp.runtime import settings
from lmp.runtime.lm import FakeLM, History
from tests.optimize import gepa_task
from tests.optimize.toy import chat, sections, write

FIXTURE = gepa_task.FIXTURE.with_name("pair.lmp")
CITIES = ["rome", "oslo", "lima", "bern", "paris", "cairo", "quito", "delhi", "riga", "baku", "tokyo", "seoul",
          "kyiv", "doha", "dakar", "hanoi"]


def short(city: str) -> bool:
    return len(city) <= 4


def task_answer(messages: list[dict]) -> str:
    objective = messages[0]["content"].split("your objective is:")[-1].lower()
    query = sections(messages[-1]["content"])
    city = query.get("city", "").strip().split("\n")[0]
    outputs = messages[0]["content"].split("Your output fields are:")[-1].split("All interactions")[0]
    if "`first`" in outputs or "first" in outputs.split("\n")[1]:
        return chat(first=city.upper() if "uppercase" in objective or short(city) else city)
    return chat(second=city[::-1] if "reversed" in objective or not short(city) else city)


def rows(names: list[str]) -> list[dict]:
    return [{"city": c, "first": c.upper(), "second": c[::-1]} for c in names]


def run_seed(tmp_path, seed: int):
    history = History()
    task = FakeLM(task_answer, history=history)
    reflector = FakeLM(gepa_task.prompt_answer, model="fake-reflect", history=history)
    settings.configure(lm=task, history=history, lms={"reflect": reflector})
    handle = lmp.load(FIXTURE)
    mod = handle.program.modules["Pair"]
    train = load_dataset(write(tmp_path / "train.jsonl", rows(CITIES[:8])), mod, require_gold=False)
    dev = load_dataset(write(tmp_path / "dev.jsonl", rows(CITIES[8:])), mod, require_gold=False)
    out = tmp_path / f"s{seed}.json"
    res = optimize(handle, optimizer="gepa", trainset=train, devset=dev, metric=resolve_metric("halves", handle),
                   output=str(out), seed=seed, concurrency=1, reporter=Reporter(quiet=True),
                   settings={"max_iterations": 8, "objective": "accuracy=1,prompt_tokens=-0.0001"})
    return res, json.loads(out.read_text())


def test_two_sibling_lineages_are_merged_into_the_perfect_candidate(tmp_path):
    merged_runs = []
    for seed in range(6):
        res, data = run_seed(tmp_path, seed)
        assert res.after == 1.0, seed  # with or without a merge, both fixes end up in the chosen candidate
        merges = [c for c in data["lineage"]["candidates"] if c["origin"] == "merge"]
        if merges:
            merged_runs.append((seed, data, merges[0]))
    assert merged_runs, "no seed produced two sibling lineages to merge"
    seed, data, merge = merged_runs[0]
    cands = {c["id"]: c for c in data["lineage"]["candidates"]}
    a, b = (cands[p] for p in merge["parents"])
    assert a["parents"] == b["parents"] == [0]  # siblings: both reflected from the seed
    assert {a["predictor"], b["predictor"]} == {"Pair.a", "Pair.b"}
    assert a["dev_score"] == b["dev_score"] == 0.75 and merge["dev_score"] == 1.0
    assert set(merge["instructions"]) == {"Pair.a", "Pair.b"}
    assert merge["instructions"]["Pair.a"] == a["instructions"]["Pair.a"]
    assert merge["instructions"]["Pair.b"] == b["instructions"]["Pair.b"]
    assert data["lineage"]["chosen"] == merge["id"] and data["scores"]["merges_accepted"] == 1
