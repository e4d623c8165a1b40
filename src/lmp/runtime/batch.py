"""Batch runs over JSONL with resume.

Rows are numbered by their line in the input file (1-based, like every other place lmp names a
line). Each finished row is appended to the output file at once (flushed), tagged with its row
number and a hash of its input. A rerun skips rows already present with an output for the same
input, and retries rows that failed; together with the response cache, an interrupted batch loses
nothing. A line the last run tore in half (killed mid-write) is cut off before appending, so the
next record starts on a line of its own. When a run ends (not interrupted) the file is rewritten in
input order, one record per row, and checked: every input row must have exactly one record.
"""

from __future__ import annotations

import collections
import contextvars
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TextIO

from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.values import to_plain


@dataclass
class Row:
    """One line of a JSONL input: its 1-based line number and its object, or why it is not one."""

    number: int
    data: dict[str, Any] | None
    error: str | None = None


@dataclass
class BatchSummary:
    total: int = 0
    skipped: int = 0  # already done in a previous run
    done: int = 0
    failed: int = 0  # rows that ran and failed, and input lines that are not a JSON object
    interrupted: bool = False
    elapsed_s: float = 0.0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row number, error), in row order
    missing: list[int] = field(default_factory=list)  # rows without exactly one record in the output
    torn_tail: bool = False  # a half-written last line was cut off before appending


def row_hash(row: dict[str, Any]) -> str:
    blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def read_rows(path: str) -> list[Row]:
    """Every non-blank line of a JSONL file as a Row; a line that is not a JSON object is kept with
    its error (so a batch reports all of them and still runs the others)."""
    rows: list[Row] = []
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below; the error names the file
    except OSError as exc:
        raise LmpRuntimeError(f"cannot read the input file {path}: {exc.strerror}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            row = parse_line(n, line)
            if row is not None:
                rows.append(row)
    return rows


def parse_line(number: int, line: str) -> Row | None:
    """One JSONL line as a Row (None for a blank line); shared with engines that read lines elsewhere
    (lmp.spark), so a line means the same everywhere."""
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except ValueError as exc:
        return Row(number, None, f"not valid JSON ({exc}); each line must be one JSON object of the module's inputs")
    if not isinstance(row, dict):
        return Row(number, None, f"expected a JSON object of inputs, got {type(row).__name__}")
    return Row(number, row)


def finished_rows(path: str, *, with_key: str | None = None) -> dict[int, dict[str, Any]]:
    """Records of a resumable JSONL results file: row number (`_row`) -> record, the last one winning.

    A torn line (the process was killed mid-write) is skipped, so a rerun redoes that row.
    `with_key`: only records that have it (e.g. "output": rows that succeeded)."""
    done: dict[int, dict[str, Any]] = {}
    if not os.path.exists(path):
        return done
    for rec in _row_records(path):
        if with_key is None or with_key in rec:
            done[rec["_row"]] = rec
    return done


def _row_records(path: str) -> Iterator[dict[str, Any]]:
    """Every record of a results file that carries a row number, in file order; torn lines skipped."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("_row"), int):
                yield rec


def completed(output: str) -> dict[int, dict[str, Any]]:
    """Rows already finished successfully in `output`: row -> record (last one wins)."""
    return finished_rows(output, with_key="output")


def cut_torn_tail(path: str) -> bool:
    """If the file's last line has no newline (a write cut short by a kill), cut it off, so that what
    is appended next starts on a line of its own instead of being glued to the fragment (and then
    lost with it). Returns whether something was cut."""
    try:
        fh = open(path, "rb+")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False
    with fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return False
        fh.seek(end - 1)
        if fh.read(1) == b"\n":
            return False
        pos = end
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                fh.truncate(pos + nl + 1)
                return True
        fh.truncate(0)
        return True


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """A one-line progress bar on stderr (only when it is a terminal), with the rate and an ETA from
    the rate so far: `label[####......] 12/40 2.1 rows/s · ETA 13s · 1 failed`."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool | None = None,
                 label: str = "", unit: str = "rows") -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.unit = label, unit
        self.start = time.perf_counter()
        self.n = 0
        self.failed = 0

    def line(self, note: str = "") -> str:
        width = 30
        filled = int(width * self.n / self.total) if self.total else width
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.n / elapsed
        eta = f" · ETA {format_eta((self.total - self.n) / rate)}" if 0 < self.n < self.total else ""
        failed = f" · {self.failed} failed" if self.failed else ""
        return (f"{self.label}[{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total} "
                f"{rate:.1f} {self.unit}/s{eta}{failed}{note} ")

    def update(self, ok: bool, note: str = "") -> None:
        self.n += 1
        self.failed += 0 if ok else 1
        if self.enabled:
            self.stream.write("\r" + self.line(note))
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.n:
            self.stream.write("\n")
            self.stream.flush()


def _as_rows(rows: Sequence[dict[str, Any] | Row]) -> list[Row]:
    return [r if isinstance(r, Row) else Row(i, r) for i, r in enumerate(rows, 1)]


def row_inputs(data: dict[str, Any], input_keys: set[str] | None) -> tuple[dict[str, Any], str]:
    """The inputs of a row passed to the module (keys that are not inputs dropped) and their hash."""
    inputs = {k: v for k, v in data.items() if input_keys is None or k in input_keys}
    return inputs, row_hash(inputs)


def row_record(run_row: Callable[[dict[str, Any]], Any], number: int, inputs: dict[str, Any],
               h: str | None = None) -> dict[str, Any]:
    """Run one row: its results record, with `output` (plain values) or `error`. Every engine (this
    file's threads, lmp.spark's executors) records a row through here, so their outputs are the same."""
    rec: dict[str, Any] = {"_row": number, "_hash": row_hash(inputs) if h is None else h, "input": inputs}
    try:
        rec["output"] = to_plain(run_row(inputs))
    except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
        rec["error"] = f"{type(exc).__name__}: {exc}"
    return rec


def run_batch(run_row: Callable[[dict[str, Any]], Any], rows: Sequence[dict[str, Any] | Row], output: str,
              concurrency: int = 4, input_keys: set[str] | None = None, progress: bool | None = None) -> BatchSummary:
    """Run `run_row(inputs)` for each row not yet done in `output`, `concurrency` at a time.

    `rows`: dicts (numbered 1, 2, ... in order) or `Row`s from `read_rows` (numbered by input line;
    a Row with an error is recorded as a failed row without running)."""
    start = time.perf_counter()
    items = _as_rows(rows)
    summary = BatchSummary(total=len(items))
    summary.torn_tail = cut_torn_tail(output)
    done = completed(output)
    todo: list[tuple[int, dict[str, Any], str]] = []
    bad: list[Row] = []
    for row in items:
        if row.data is None:
            bad.append(row)
            continue
        inputs, h = row_inputs(row.data, input_keys)
        if row.number in done and done[row.number].get("_hash") == h:
            summary.skipped += 1
            continue
        todo.append((row.number, inputs, h))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    lock = threading.Lock()
    bar = Progress(len(todo), enabled=progress)
    with open(output, "a", encoding="utf-8") as out:

        def record(rec: dict[str, Any], ok: bool) -> None:
            line = json.dumps(rec, ensure_ascii=False, default=str)
            with lock:
                out.write(line + "\n")
                out.flush()
                if ok:
                    summary.done += 1
                else:
                    summary.failed += 1
                    summary.errors.append((rec["_row"], rec["error"]))

        for row in bad:
            record({"_row": row.number, "_hash": None, "error": row.error}, False)

        def work(i: int, inputs: dict[str, Any], h: str) -> None:
            rec = row_record(run_row, i, inputs, h)
            ok = "output" in rec
            record(rec, ok)
            with lock:
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
            summary.errors.sort()
            summary.elapsed_s = time.perf_counter() - start
            return summary
        pool.shutdown(wait=True)
    bar.close()
    summary.errors.sort()
    compact(output, items)
    summary.missing = verify(output, items, input_keys)
    summary.elapsed_s = time.perf_counter() - start
    return summary


def compact(output: str, rows: Sequence[dict[str, Any] | Row]) -> None:
    """Rewrite the output in input order, one record per row, the latest winning (atomic replace)."""
    records = finished_rows(output)
    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in _as_rows(rows):
            if row.number in records:
                fh.write(json.dumps(records[row.number], ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, output)


def verify(output: str, rows: Sequence[dict[str, Any] | Row], input_keys: set[str] | None = None) -> list[int]:
    """Rows of the input without exactly one record for their current input in `output`."""
    counts: collections.Counter[int] = collections.Counter()
    hashes: dict[int, Any] = {}
    for rec in _row_records(output):
        counts[rec["_row"]] += 1
        hashes[rec["_row"]] = rec.get("_hash")
    missing = []
    for row in _as_rows(rows):
        if row.data is None:
            expected = None
        else:
            expected = row_hash({k: v for k, v in row.data.items() if input_keys is None or k in input_keys})
        if counts[row.number] != 1 or hashes.get(row.number) != expected:
            missing.append(row.number)
    return missing
