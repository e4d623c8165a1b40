"""A small pure-Python BM25 index over local files or a JSONL corpus, so RAG runs with no server.

Files are split into passages at blank lines (a long paragraph stays whole); a JSONL corpus gives
one passage per line from its `text` field (optionally prefixed by a `title` field).
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable

_TOKEN = re.compile(r"[a-z0-9]+")
# A short stop list: BM25's idf already discounts common words; these only add noise to scores.
_STOP = frozenset("a an and are as at be by for from has in is it its of on or that the to was were with".split())


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


class BM25:
    def __init__(self, passages: Iterable[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.passages = [p for p in passages if p.strip()]
        self.k1, self.b = k1, b
        self._tf = [Counter(tokenize(p)) for p in self.passages]
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avg = (sum(self._len) / len(self._len)) if self._len else 0.0
        df: Counter[str] = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        n = len(self.passages)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def scores(self, query: str) -> list[float]:
        terms = tokenize(query)
        out = []
        for tf, length in zip(self._tf, self._len, strict=True):
            s = 0.0
            norm = self.k1 * (1 - self.b + self.b * length / self._avg) if self._avg else self.k1
            for t in terms:
                f = tf.get(t)
                if f:
                    s += self._idf[t] * f * (self.k1 + 1) / (f + norm)
            out.append(s)
        return out

    def search(self, query: str, k: int = 3) -> list[str]:
        scored = self.scores(query)
        order = sorted(range(len(scored)), key=lambda i: (-scored[i], i))
        return [self.passages[i] for i in order[:k] if scored[i] > 0] or [self.passages[i] for i in order[:k]]

    def __call__(self, query: str, k: int = 3) -> list[str]:
        return self.search(query, k)

    def __len__(self) -> int:
        return len(self.passages)


def split_passages(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def bm25_from_source(source: str, base_dir: str = ".", text_field: str = "text",
                     title_field: str | None = "title") -> BM25:
    """`source` is a glob of text files or a `.jsonl` corpus, relative to `base_dir`."""
    pattern = source if os.path.isabs(source) else os.path.join(base_dir, source)
    files = sorted(glob.glob(pattern, recursive=True))
    if not files:
        from lmp.runtime.errors import LmpRuntimeError

        raise LmpRuntimeError(f"bm25: no files match {source!r} (looked in {base_dir}); paths are relative to "
                              "the .lmp file that declares the retriever")
    passages: list[str] = []
    for path in files:
        if path.endswith(".jsonl"):
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    row = json.loads(line)
                    if isinstance(row, str):
                        passages.append(row)
                        continue
                    text = str(row.get(text_field, ""))
                    title = row.get(title_field) if title_field else None
                    passages.append(f"{title} | {text}" if title else text)
        else:
            with open(path, encoding="utf-8", errors="replace") as fh:
                passages.extend(split_passages(fh.read()))
    return BM25(passages)
