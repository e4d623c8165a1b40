"""Typed decoding on the embedded model: parse failures, latency and tokens, zero-shot and without a
state file, lmp constrained (the default) vs lmp unconstrained (`constrain: "none"`) vs DSPy's
ChatAdapter and JSONAdapter on the same local server and the same inputs.

    python bench/typed_decoding.py                 # small sample (4 rows per task): a few minutes idle
    python bench/typed_decoding.py --rows 200      # the full figure (slow: run it on its own)

Per task and system: rows, rows that failed to parse (after the system's own retries), calls per
row, mean and p95 latency per call, mean completion tokens per call. DSPy columns appear only when
`dspy` is importable (`pip install -e '.[bench]'`); otherwise they are reported as skipped.

llama.cpp reuses the KV state of earlier requests (`cache_prompt`), so results depend a little on
request order; every system sees the rows in the same order, one request at a time.
"""

# No `from __future__ import annotations`: DSPy reads the signature classes' annotations as types.
import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import pydantic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, has_dspy, machine, write_result  # noqa: E402

REVIEWS = [
    "The pasta at Luigi's in Rome was wonderful and the staff were kind. Five stars!",
    "Our hotel in Lisbon was dirty and noisy; I would not go back.",
    "The concert in Berlin was fine, nothing special.",
    "Terrible service at a cafe in Paris, cold coffee, rude waiter.",
    "A lovely museum visit in Madrid with my kids; we learned a lot.",
    "The ferry to Athens was late but the crew apologised and gave us free drinks.",
    "Average burgers in Chicago, friendly staff, a bit overpriced.",
    "Best sushi I have had in years, Tokyo never disappoints.",
    "The tour guide in Cairo was rude and the bus broke down twice.",
    "A quiet weekend in Oslo: good walks, expensive food, nice people.",
    "Loved the jazz bar in New Orleans, would recommend to anyone.",
    "The museum in Vienna was closed when we arrived, a wasted trip.",
]

TYPED = '''model default = "local" { temperature: 0.0MODEL_EXTRA }

type Mood = "positive" | "neutral" | "negative"
type Place = { city: str, country: str }

signature Review {
  """Read the review and fill in every field."""
  in  review: str
  out mood: Mood
  out stars: int "from 1 to 5"
  out confidence: float "between 0 and 1"
  out recommends: bool
  out keywords: list[str] "at most three words from the review"
  out venue: str? "where it happened, or null"
  out place: Place "the city and country mentioned, or guesses"
}

signature Judge {
  """Judge the sentiment of the review."""
  in  review: str
  out mood: Mood
  out score: float "between 0 and 1"
}

module Read(review: str) -> (mood: Mood, stars: int, confidence: float, recommends: bool, keywords: list[str],
                             venue: str?, place: Place) {
  let read = Predict(Review)
  return read(review: review)
}

module Think(review: str) -> (mood: Mood, score: float) {
  let judge = ChainOfThought(Judge)
  return judge(review: review)
}
'''

MODES = {"lmp constrained": "", "lmp unconstrained": ', constrain: "none"'}

# The same types for DSPy's signatures.
Mood = Literal["positive", "neutral", "negative"]
Category = Literal["Wars and Conflicts", "Politics and Governance", "Science and Innovation",
                   "Exploration and Discovery", "Economic Events", "Natural Disasters and Climate",
                   "Religion and Philosophy", "Arts and Culture", "Health and Medicine", "Social Movements",
                   "Sports and Games"]


class Place(pydantic.BaseModel):
    city: str
    country: str


def classify_program(extra: str) -> str:
    text = (Path(ROOT) / "examples" / "classify" / "classify.lmp").read_text(encoding="utf-8")
    # The example caps max_tokens at 64; here each system gets its own budget (lmp: derived from the types).
    return re.sub(r'model default = "local" \{[^}]*\}', 'model default = "local" { temperature: 0.0' + extra + " }",
                  text, count=1)


def tasks(rows: int) -> list[dict[str, Any]]:
    events = [json.loads(line)["event"] for line in
              (Path(ROOT) / "examples" / "classify" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    reviews = [REVIEWS[i % len(REVIEWS)] for i in range(rows)]
    return [
        {"name": "classify (11-way literal + float)", "module": "Classify", "predictor": "Classify.classify",
         "program": classify_program, "inputs": [{"event": events[i % len(events)]} for i in range(rows)]},
        {"name": "every type (Predict)", "module": "Read", "predictor": "Read.read",
         "program": lambda extra: TYPED.replace("MODEL_EXTRA", extra), "inputs": [{"review": r} for r in reviews]},
        {"name": "ChainOfThought, two outputs", "module": "Think", "predictor": "Think.judge",
         "program": lambda extra: TYPED.replace("MODEL_EXTRA", extra), "inputs": [{"review": r} for r in reviews]},
    ]


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_lmp(task: dict[str, Any], extra: str, work: Path) -> dict[str, Any]:
    import lmp
    from lmp.runtime.errors import LMOutputError

    path = work / f"{task['module']}{abs(hash(extra))}.lmp"
    path.write_text(task["program"](extra), encoding="utf-8")
    prog = lmp.load(path)
    failures = 0
    start = len(lmp.history())
    t0 = time.perf_counter()
    for inputs in task["inputs"]:
        try:
            getattr(prog, task["module"])(**inputs)
        except LMOutputError:
            failures += 1
    wall = time.perf_counter() - t0
    calls = [r for r in lmp.history()[start:] if r.predictor == task["predictor"]]
    latencies = [r.latency_s for r in calls if not r.cached]
    return {"rows": len(task["inputs"]), "failed": failures, "calls": len(calls), "wall_s": wall,
            "mean_s": statistics.fmean(latencies) if latencies else float("nan"), "p95_s": p95(latencies),
            "completion_tokens": statistics.fmean(r.completion_tokens for r in calls) if calls else float("nan"),
            "cut_off": sum(1 for r in calls if r.finish_reason == "length")}


def run_dspy(task: dict[str, Any], adapter_name: str, api_base: str, alias: str, max_tokens: int) -> dict[str, Any]:
    import logging

    import dspy

    for name in ("dspy", "LiteLLM", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    lm = dspy.LM(f"openai/{alias}", api_base=api_base, api_key="none", temperature=0.0, max_tokens=max_tokens,
                 cache=False)
    adapter = dspy.ChatAdapter() if adapter_name == "chat" else dspy.JSONAdapter()
    if task["module"] == "Classify":
        class ClassifyEvent(dspy.Signature):
            """Classify the historic event into one category."""

            event: str = dspy.InputField(desc="a short description of a historic event")
            category: Category = dspy.OutputField()
            confidence: float = dspy.OutputField(desc="between 0 and 1")

        program: Any = dspy.Predict(ClassifyEvent)
    elif task["module"] == "Read":
        class Review(dspy.Signature):
            """Read the review and fill in every field."""

            review: str = dspy.InputField()
            mood: Mood = dspy.OutputField()
            stars: int = dspy.OutputField(desc="from 1 to 5")
            confidence: float = dspy.OutputField(desc="between 0 and 1")
            recommends: bool = dspy.OutputField()
            keywords: list[str] = dspy.OutputField(desc="at most three words from the review")
            venue: str | None = dspy.OutputField(desc="where it happened, or null")
            place: Place = dspy.OutputField(desc="the city and country mentioned, or guesses")

        program = dspy.Predict(Review)
    else:
        class Judge(dspy.Signature):
            """Judge the sentiment of the review."""

            review: str = dspy.InputField()
            mood: Mood = dspy.OutputField()
            score: float = dspy.OutputField(desc="between 0 and 1")

        program = dspy.ChainOfThought(Judge)
    failures = 0
    n0 = len(lm.history)
    t0 = time.perf_counter()
    with dspy.context(lm=lm, adapter=adapter):
        for inputs in task["inputs"]:
            try:
                program(**inputs)
            except Exception:  # noqa: BLE001 - DSPy raises its own parse errors after its fallbacks
                failures += 1
    wall = time.perf_counter() - t0
    entries = lm.history[n0:]
    tokens = [((e.get("usage") or {}).get("completion_tokens") or 0) for e in entries]
    calls = len(entries)
    mean = wall / calls if calls else float("nan")
    return {"rows": len(task["inputs"]), "failed": failures, "calls": calls, "wall_s": wall, "mean_s": mean,
            "p95_s": float("nan"), "completion_tokens": statistics.fmean(tokens) if tokens else float("nan"),
            "cut_off": None}


def fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return "—" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| task | system | rows | parse failures | calls/row | mean s/call | p95 s/call | completion tokens/call "
             "| cut off |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        if r.get("skipped"):
            lines.append(f"| {r['task']} | {r['system']} | skipped: {r['skipped']} | | | | | | |")
            continue
        rate = f"{r['failed']}/{r['rows']} ({100 * r['failed'] / max(1, r['rows']):.0f}%)"
        lines.append(f"| {r['task']} | {r['system']} | {r['rows']} | {rate} | {r['calls'] / max(1, r['rows']):.2f} "
                     f"| {fmt(r['mean_s'])} | {fmt(r['p95_s'])} | {fmt(r['completion_tokens'], 1)} | {fmt(r['cut_off'])} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=4, help="inputs per task (default 4; the full figure is 200)")
    ap.add_argument("--only", nargs="*", choices=["classify", "read", "think"], help="run only these tasks")
    ap.add_argument("--dspy-max-tokens", type=int, default=256, help="DSPy's max_tokens (lmp derives its own)")
    ap.add_argument("--out", help="markdown file to write the table to")
    ap.add_argument("--systems", nargs="*", choices=["constrained", "unconstrained", "dspy"],
                    help="run only these systems (unconstrained calls are the slow ones: up to 3 per row)")
    args = ap.parse_args()

    os.environ.pop("LMP_MODEL_DEFAULT", None)
    work = Path(tempfile.mkdtemp(prefix="lmp-typed-"))
    os.environ["LMP_CACHE_DIR"] = str(work / "cache")  # fresh answers: no hits from earlier runs
    chosen = tasks(args.rows)
    if args.only:
        keys = {"classify": "Classify", "read": "Read", "think": "Think"}
        chosen = [t for t in chosen if any(keys[o] == t["module"] for o in args.only)]
    load_before = machine()["load_1min"]
    results: list[dict[str, Any]] = []
    wanted = set(args.systems or ["constrained", "unconstrained", "dspy"])
    for task in chosen:
        for system, extra in MODES.items():
            if system.removeprefix("lmp ") not in wanted:
                continue
            r = run_lmp(task, extra, work)
            results.append({"task": task["name"], "system": system, **r})
            print(f"{task['name']:<36} {system:<20} failed {r['failed']}/{r['rows']}  calls {r['calls']}  "
                  f"mean {fmt(r['mean_s'])} s", file=sys.stderr, flush=True)
        if "dspy" not in wanted:
            continue
        if has_dspy():
            from lmp.runtime.lm.local import shared_server

            server = shared_server()
            alias = server.info.alias if server.info else "local"
            for adapter, label in (("chat", "DSPy ChatAdapter"), ("json", "DSPy JSONAdapter")):
                r = run_dspy(task, adapter, server.url, alias, args.dspy_max_tokens)
                results.append({"task": task["name"], "system": label, **r})
        else:
            for adapter in ("Chat", "JSON"):
                results.append({"task": task["name"], "system": f"DSPy {adapter}Adapter",
                                "skipped": "dspy is not importable (pip install -e '.[bench]')"})
    md = table(results)
    header = (f"rows per task: {args.rows}; 1-minute load average before: {fmt(load_before)}, after: "
              f"{fmt(machine()['load_1min'])}")
    print(header)
    print(md)
    write_result("typed_decoding", {"rows": args.rows, "results": results})
    if args.out:
        Path(args.out).write_text(header + "\n\n" + md + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
