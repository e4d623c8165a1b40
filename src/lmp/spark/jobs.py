"""Driver side of `lmp run --engine spark` and `lmp eval --engine spark`.

A run reads the input with Spark (JSONL as text lines, so a line means what it means to `lmp run
--input`; Parquet typed; CSV as text read by each input's type like `-i`), numbers rows in file order
(1-based, JSONL: the line number), runs them through the row function on the executors and writes a
Parquet dataset `DIR/results` with one record per non-blank input row:

    _row: bigint, _hash: string, input: string (JSON), output: struct<outputs...>, _error: string

Steps, each committed before the next, so nothing is lost or duplicated when a step dies:
1. the rows' records go to `DIR/_staging` (the only step that calls models; retried tasks replace,
   never add, rows);
2. `DIR/results.new` = the new records plus, with --retry-failed, the earlier records of rows that
   had already succeeded for the same input;
3. `results.new` replaces `results` (results -> results.old, results.new -> results, delete old);
   a step 3 cut short is finished by the next run. Then every input row must have exactly one record.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lmp.runtime.batch import format_eta
from lmp.spark.worker import Bundle

INPUT_KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".csv": "csv"}


class SparkJobError(Exception):
    user_facing = True


def input_kind(path: str) -> str:
    lowered = path.lower().rstrip("/")
    for ext, kind in INPUT_KINDS.items():
        if lowered.endswith(ext):
            return kind
    raise SparkJobError(f"{path}: the input's format comes from its extension: .jsonl, .parquet or .csv")


def session(master: str = "local[*]", app: str = "lmp") -> Any:
    """A SparkSession (the active one if any, else a new one on `master`) with Arrow on and Spark's
    console progress bar off (lmp prints its own, with an ETA)."""
    import os

    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Workers on this machine run this interpreter (where lmp is installed), not whatever
        # `python3` is first on PATH.
        builder = builder.config("spark.pyspark.python", sys.executable)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# ------------------------------------------------------------------ progress


class StageProgress:
    """`label[#####.....] 6/16 tasks · 41.0 rows/s · ETA 12s` on stderr (terminals only), from Spark's
    status tracker: tasks are partitions, so the ETA is as fine as --partitions makes it."""

    def __init__(self, spark: Any, rows: int, label: str = "", enabled: bool | None = None) -> None:
        self.tracker = spark.sparkContext.statusTracker()
        self.rows, self.label = rows, label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start = time.perf_counter()

    def line(self, done: int, total: int) -> str:
        width = 30
        filled = int(width * done / total) if total else 0
        elapsed = time.perf_counter() - self.start
        rate = f" · {self.rows * done / total / elapsed:.1f} rows/s" if self.rows and total and done else ""
        eta = f" · ETA {format_eta(elapsed / done * (total - done))}" if 0 < done < total else ""
        return f"{self.label}[{'#' * filled}{'.' * (width - filled)}] {done}/{total} tasks{rate}{eta} "

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            done = total = 0
            for sid in self.tracker.getActiveStageIds():
                info = self.tracker.getStageInfo(sid)
                if info is not None:
                    done += info.numCompletedTasks
                    total += info.numTasks
            if total:
                sys.stderr.write("\r" + self.line(done, total))
                sys.stderr.flush()

    def __enter__(self) -> StageProgress:
        if self.enabled:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            sys.stderr.write("\n")
            sys.stderr.flush()


# ------------------------------------------------------------------ files (local or any Hadoop filesystem)


class _FS:
    def __init__(self, spark: Any) -> None:
        jvm = spark.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _p(self, path: str) -> tuple[Any, Any]:
        p = self._path(path)
        return p.getFileSystem(self._conf), p

    def exists(self, path: str) -> bool:
        fs, p = self._p(path)
        return bool(fs.exists(p))

    def complete(self, path: str) -> bool:
        return self.exists(path.rstrip("/") + "/_SUCCESS")

    def rename(self, src: str, dst: str) -> None:
        fs, p = self._p(src)
        if not fs.rename(p, self._path(dst)):
            raise SparkJobError(f"could not rename {src} to {dst}")

    def delete(self, path: str) -> None:
        fs, p = self._p(path)
        if fs.exists(p):
            fs.delete(p, True)


def _settle(fs: _FS, out: str) -> None:
    """Finish or undo a swap of results a killed run left half done."""
    results, new, old = f"{out}/results", f"{out}/results.new", f"{out}/results.old"
    if not fs.exists(results):
        if fs.complete(new):
            fs.rename(new, results)
        elif fs.complete(old):
            fs.rename(old, results)
    fs.delete(old)
    fs.delete(new)


# ------------------------------------------------------------------ run


@dataclass
class RunSummary:
    rows: int = 0  # non-blank input rows
    ran: int = 0
    done: int = 0  # rows with an output in the results
    failed: int = 0  # rows with an error in the results
    skipped: int = 0  # already done (--retry-failed)
    calls: int = 0
    cached_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    elapsed_s: float = 0.0
    errors: list[tuple[int, str]] = field(default_factory=list)  # the first few, in row order
    missing: list[int] = field(default_factory=list)  # rows without exactly one record
    results: str = ""


def read_input(spark: Any, path: str, kind: str) -> Any:
    """The input as a DataFrame with `_row` (1-based, file order) first."""
    from pyspark.sql import types as st

    if kind == "jsonl":
        raw = spark.read.text(path)
    elif kind == "parquet":
        raw = spark.read.parquet(path)
    else:
        # RFC 4180 quoting (a quote inside a field is doubled), as Python's csv, pandas and Excel write it;
        # Spark's own default escape is a backslash.
        raw = (spark.read.option("header", "true").option("inferSchema", "false").option("multiLine", "true")
               .option("escape", '"').csv(path))
    schema = st.StructType([st.StructField("_row", st.LongType(), False),
                            *(st.StructField("_line" if kind == "jsonl" else f.name, f.dataType, True)
                              for f in raw.schema.fields)])
    numbered = raw.rdd.zipWithIndex().map(lambda pair: (pair[1] + 1, *pair[0]))
    return spark.createDataFrame(numbered, schema)


def run_job(spark: Any, bundle: Bundle, input_path: str, out: str, *, partitions: int | None = None,
            retry_failed: bool = False, progress: bool | None = None, shown_errors: int = 5) -> RunSummary:
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql import types as st

    from lmp.spark.types import output_struct, spark_type
    from lmp.spark.worker import JOB_COLUMNS, handle_for, module_types, run_job_function

    start = time.perf_counter()
    out = out.rstrip("/")
    kind = input_kind(input_path)
    fs = _FS(spark)
    _settle(fs, out)
    results_path, staging = f"{out}/results", f"{out}/_staging"
    have_results = fs.complete(results_path)
    if have_results and not retry_failed:
        raise SparkJobError(f"{out} already holds results; pass --retry-failed to rerun only the rows that "
                            "failed (or whose input changed), or choose another --out")
    handle = handle_for(bundle)
    inputs_t, outputs_t = module_types(handle, bundle.module)
    out_struct = st.StructType([st.StructField(n, spark_type(t), True) for n, t in outputs_t])
    output_struct(outputs_t)  # refuses an output named like the error column

    rows = read_input(spark, input_path, kind)
    if kind != "jsonl":
        names = set(rows.columns)
        lacking = [n for n, t in inputs_t if n not in names and _required(handle, bundle.module, n)]
        if lacking:
            raise SparkJobError(f"{input_path}: no column for the input(s) {', '.join(lacking)} of {bundle.module} "
                                f"(its columns: {', '.join(c for c in rows.columns if c != '_row')})")
        rows = rows.select("_row", *[n for n, _ in inputs_t if n in names])
    old = None
    if have_results:
        old = spark.read.parquet(results_path)
        # Parquet reads every field back as nullable: compare the shapes, not the nullability.
        if old.schema["output"].dataType.simpleString() != out_struct.simpleString():
            raise SparkJobError(f"{results_path} holds outputs of another shape "
                                f"({old.schema['output'].dataType.simpleString()}); {bundle.module} returns "
                                f"{out_struct.simpleString()}. Choose another --out")
        prev = old.filter(F.col("_error").isNull()).select("_row", F.col("_hash").alias("_prev_hash"))
        rows = rows.join(prev, "_row", "left")
    else:
        rows = rows.withColumn("_prev_hash", F.lit(None).cast("string"))
    # No count first: it would be one more pass over the input. Empty partitions cost nothing.
    rows = rows.repartition(partitions or 4 * spark.sparkContext.defaultParallelism)

    record = st.StructType([
        st.StructField("status", st.StringType()), st.StructField("_hash", st.StringType()),
        st.StructField("input", st.StringType()), st.StructField("output", out_struct),
        st.StructField("error", st.StringType()), st.StructField("calls", st.LongType()),
        st.StructField("cached_calls", st.LongType()), st.StructField("tokens", st.LongType()),
        st.StructField("cost", st.DoubleType())])
    assert [f.name for f in record.fields] == list(JOB_COLUMNS)
    fn = run_job_function(bundle, kind)
    fn.__annotations__ = {"batches": Iterator[_pd().DataFrame], "return": Iterator[_pd().DataFrame]}
    job_udf = F.pandas_udf(fn, record).asNondeterministic()  # type: ignore[call-overload]
    cols = [c for c in rows.columns]
    staged = rows.select("_row", job_udf(F.struct(*[F.col(c) for c in cols])).alias("r")).select("_row", "r.*")
    with StageProgress(spark, 0, "spark ", enabled=progress):
        staged.write.mode("overwrite").parquet(staging)
    staged = spark.read.parquet(staging)

    fresh = staged.filter(F.col("status").isin("ok", "error")).select(
        "_row", "_hash", "input", "output", F.col("error").alias("_error"))
    final = fresh
    if old is not None:
        kept = old.join(staged.filter(F.col("status") == "skipped").select("_row"), "_row", "left_semi")
        final = fresh.unionByName(kept.select("_row", "_hash", "input", "output", "_error"))
    final.orderBy("_row").write.mode("overwrite").parquet(f"{out}/results.new")
    if fs.exists(results_path):
        fs.rename(results_path, f"{out}/results.old")
    fs.rename(f"{out}/results.new", results_path)
    fs.delete(f"{out}/results.old")

    summary = RunSummary(results=results_path)
    agg = staged.agg(F.sum(F.when(F.col("status") != "blank", 1).otherwise(0)).alias("rows"),
                     F.sum(F.when(F.col("status").isin("ok", "error"), 1).otherwise(0)).alias("ran"),
                     F.sum(F.when(F.col("status") == "skipped", 1).otherwise(0)).alias("skipped"),
                     F.sum("calls"), F.sum("cached_calls"), F.sum("tokens"), F.sum("cost")).first()
    summary.rows, summary.ran, summary.skipped = int(agg[0] or 0), int(agg[1] or 0), int(agg[2] or 0)
    summary.calls, summary.cached_calls = int(agg[3] or 0), int(agg[4] or 0)
    summary.tokens, summary.cost = int(agg[5] or 0), float(agg[6] or 0.0)
    written = spark.read.parquet(results_path)
    stats = written.agg(F.count(F.lit(1)), F.countDistinct("_row"),
                        F.sum(F.when(F.col("_error").isNull(), 1).otherwise(0)),
                        F.sum(F.when(F.col("_error").isNotNull(), 1).otherwise(0))).first()
    records, distinct = int(stats[0] or 0), int(stats[1] or 0)
    summary.done, summary.failed = int(stats[2] or 0), int(stats[3] or 0)
    if records != summary.rows or distinct != records:
        # Only then name the rows (a join over the whole input).
        counts = written.groupBy("_row").count()
        expected = staged.filter(F.col("status") != "blank").select("_row")
        bad = (expected.join(counts, "_row", "left").filter(F.col("count").isNull() | (F.col("count") != 1))
               .select("_row").union(counts.join(expected, "_row", "left_anti").select("_row")))
        summary.missing = sorted(int(r[0]) for r in bad.limit(1000).collect())
    if summary.failed:
        summary.errors = [(int(r[0]), str(r[1])) for r in written.filter(F.col("_error").isNotNull())
                          .orderBy("_row").select("_row", "_error").limit(shown_errors).collect()]
    fs.delete(staging)
    summary.elapsed_s = time.perf_counter() - start
    return summary


def _required(handle: Any, module: str, name: str) -> bool:
    from lmp.ir.types import OptionalType

    p = next(p for p in handle.interpreter.module(module).params if p.name == name)
    return p.default is None and not isinstance(p.type, OptionalType)


def _pd() -> Any:
    import pandas as pd

    return pd


def read_results(spark: Any, out: str) -> Any:
    """The results dataset a run wrote to `out` (a DataFrame; one record per input row)."""
    return spark.read.parquet(out.rstrip("/") + "/results")


# ------------------------------------------------------------------ eval


def evaluate_job(spark: Any, bundle: Bundle, examples: list[Any], metric: str, *, partitions: int | None = None,
                 progress: bool | None = None) -> Any:
    """Score `examples` on the executors; the driver aggregates them into the local path's EvalResult
    (same table, score, confidence interval and call totals)."""
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql import types as st

    from lmp.optimize.evaluate import EvalResult, RowResult, confidence_interval
    from lmp.spark.worker import EVAL_COLUMNS, eval_job_function

    start = time.perf_counter()
    data = [(i, json.dumps({"inputs": ex.inputs, "gold": ex.gold, "where": ex.where, "labels": ex.labels},
                           ensure_ascii=False, default=str)) for i, ex in enumerate(examples)]
    parts = partitions or min(max(1, len(data)), 4 * spark.sparkContext.defaultParallelism)
    df = spark.createDataFrame(data, "_idx long, _example string").repartition(parts)
    record = st.StructType([
        st.StructField("prediction", st.StringType()), st.StructField("score", st.DoubleType()),
        st.StructField("error", st.StringType()), st.StructField("metric_error", st.StringType()),
        st.StructField("unparsed", st.BooleanType()), st.StructField("calls", st.LongType()),
        st.StructField("cached_calls", st.LongType()), st.StructField("tokens", st.LongType()),
        st.StructField("cost", st.DoubleType())])
    assert [f.name for f in record.fields] == list(EVAL_COLUMNS)
    fn = eval_job_function(bundle, metric)
    fn.__annotations__ = {"batches": Iterator[_pd().DataFrame], "return": Iterator[_pd().DataFrame]}
    eval_udf = F.pandas_udf(fn, record).asNondeterministic()  # type: ignore[call-overload]
    scored = df.select("_idx", eval_udf(F.struct("_idx", "_example")).alias("r")).select("_idx", "r.*")
    with StageProgress(spark, len(data), "spark ", enabled=progress):
        got = {int(r["_idx"]): r for r in scored.collect()}
    missing = [i for i in range(len(examples)) if i not in got]
    if missing:
        raise SparkJobError(f"{len(missing)} row(s) came back without a result (e.g. {examples[missing[0]].where})")
    results = []
    for i, ex in enumerate(examples):
        r = got[i]
        results.append(RowResult(i, ex, json.loads(r["prediction"]) if r["prediction"] is not None else None,
                                 float(r["score"]), error=r["error"], metric_error=r["metric_error"],
                                 unparsed=bool(r["unparsed"])))
    scores = [r.score for r in results]
    n = len(results)
    return EvalResult(score=sum(scores) / n if n else 0.0, results=results, n=n,
                      ci=confidence_interval(scores) if scores else (0.0, 0.0),
                      calls=sum(int(got[i]["calls"]) for i in got), cached_calls=sum(int(got[i]["cached_calls"])
                                                                                    for i in got),
                      tokens=sum(int(got[i]["tokens"]) for i in got), cost=sum(float(got[i]["cost"]) for i in got),
                      elapsed_s=time.perf_counter() - start)
