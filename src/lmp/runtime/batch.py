"""Batch runs over JSONL with resume.

Each finished row is appended to the output file at once (flushed), tagged with its row number and
a hash of its input. A rerun skips rows already present with an output for the same input, and
retries rows that failed; together with the response cache, an interrupted batch loses nothing.
When every row has finished, the file is rewritten in input order.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TextIO

from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.values import to_plain
from lmp.secrets import scrub, scrub_data


@dataclass
class BatchSummary:
    total: int = 0
    skipped: int = 0  # already done in a previous run
    done: int = 0
    failed: int = 0
    interrupted: bool = False
    elapsed_s: float = 0.0
    errors: list[tuple[int, str]] = field(default_factory=list)


def row_hash(row: dict[str, Any]) -> str:
    blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def read_rows(path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below; the error names the file
    except OSError as exc:
        raise LmpRuntimeError(f"cannot read the input file {path}: {exc.strerror}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise LmpRuntimeError(f"{path}:{n}: not valid JSON ({exc}); each line must be one JSON object "
                                      "of the module's inputs") from None
            if not isinstance(row, dict):
                raise LmpRuntimeError(f"{path}:{n}: expected a JSON object of inputs, got {type(row).__name__}")
            rows.append(row)
    return rows


def finished_rows(path: str, *, with_key: str | None = None) -> dict[int, dict[str, Any]]:
    """Records of a resumable JSONL results file: row number (`_row`) -> record, the last one winning.

    A torn last line (the process was killed mid-write) is skipped, so a rerun redoes that row.
    `with_key`: only records that have it (e.g. "output": rows that succeeded)."""
    done: dict[int, dict[str, Any]] = {}
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("_row"), int) and (with_key is None or with_key in rec):
                done[rec["_row"]] = rec
    return done


def completed(output: str) -> dict[int, dict[str, Any]]:
    """Rows already finished successfully in `output`: row -> record (last one wins)."""
    return finished_rows(output, with_key="output")


class Progress:
    """A one-line progress bar on stderr (only when it is a terminal)."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self.n = 0
        self.failed = 0

    def update(self, ok: bool) -> None:
        self.n += 1
        self.failed += 0 if ok else 1
        if self.enabled:
            width = 30
            filled = int(width * self.n / self.total) if self.total else width
            rate = self.n / max(time.perf_counter() - self.start, 1e-9)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total} "
                              f"{rate:.1f} rows/s, {self.failed} failed ")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def run_batch(run_row: Callable[[dict[str, Any]], Any], rows: list[dict[str, Any]], output: str,
              concurrency: int = 4, input_keys: set[str] | None = None, progress: bool | None = None) -> BatchSummary:
    """Run `run_row(inputs)` for each row not yet done in `output`, `concurrency` at a time."""
    start = time.perf_counter()
    summary = BatchSummary(total=len(rows))
    done = completed(output)
    todo: list[tuple[int, dict[str, Any], str]] = []
    for i, row in enumerate(rows):
        inputs = {k: v for k, v in row.items() if input_keys is None or k in input_keys}
        h = row_hash(inputs)
        if i in done and done[i].get("_hash") == h:
            summary.skipped += 1
            continue
        todo.append((i, inputs, h))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    lock = threading.Lock()
    bar = Progress(len(todo), enabled=progress)
    with open(output, "a", encoding="utf-8") as out:

        def work(i: int, inputs: dict[str, Any], h: str) -> None:
            rec: dict[str, Any] = {"_row": i, "_hash": h, "input": inputs}
            try:
                # Scrubbed: a model may repeat a key it was given (lmp.secrets).
                rec["output"] = scrub_data(to_plain(run_row(inputs)))
                ok = True
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
                rec["error"] = scrub(f"{type(exc).__name__}: {exc}")
                ok = False
            line = json.dumps(rec, ensure_ascii=False, default=str)
            with lock:
                out.write(line + "\n")
                out.flush()
                if ok:
                    summary.done += 1
                else:
                    summary.failed += 1
                    summary.errors.append((i, rec["error"]))
                bar.update(ok)

        pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
        pending: set[Future[None]] = set()
        try:
            for item in todo:
                # Each task runs in a copy of this thread's context so `lmp.context(...)` settings apply.
                ctx = contextvars.copy_context()
                pending.add(pool.submit(ctx.run, work, *item))
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:
            summary.interrupted = True
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
            summary.elapsed_s = time.perf_counter() - start
            return summary
        pool.shutdown(wait=True)
    bar.close()
    if not summary.failed:
        compact(output, len(rows))
    summary.elapsed_s = time.perf_counter() - start
    return summary


def compact(output: str, n_rows: int) -> None:
    """Rewrite the output in input order, one record per row (atomic replace)."""
    done = completed(output)
    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for i in range(n_rows):
            if i in done:
                fh.write(json.dumps(done[i], ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, output)
