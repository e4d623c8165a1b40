"""One SparkSession (local[2]) and one loopback fake model server for every Spark test in the process.

The server starts first: its URL reaches the executors' Python workers through `spark.executorEnv`
(set when the session starts), so nothing is exported into this process's own environment. Tests
change what the server answers through `fake.fault` (and reset it after themselves).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from typing import Any

from lmp.runtime.lm import FakeServer
from tests.tooling import missing

MODEL = "openai/fake-model"

TRIAGE = '''\
type Priority = "low" | "high"
type Item = {
  name: str
  qty: int
}

signature Triage {
  """Triage a support ticket."""
  in  ticket: str
  out priority: Priority
  out score: float
  out tags: list[str]
  out item: Item
  out note: str?
}

module Run(ticket: str) -> (priority: Priority, score: float, tags: list[str], item: Item, note: str?) {
  let t = Predict(Triage)
  return t(ticket: ticket)
}
'''


def triage_answer(body: dict[str, Any]) -> str:
    """A well-formed answer that depends on the prompt only, so every engine must get the same one."""
    text = body["messages"][-1]["content"]
    h = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    note = "None" if h % 3 else f"note {h % 11}"
    return (f"[[ ## priority ## ]]\n{'high' if h % 2 else 'low'}\n\n[[ ## score ## ]]\n{(h % 100) / 100}\n\n"
            f"[[ ## tags ## ]]\n[\"a\", \"t{h % 7}\"]\n\n[[ ## item ## ]]\n{{\"name\": \"n{h % 5}\", \"qty\": {h % 9}}}"
            f"\n\n[[ ## note ## ]]\n{note}\n\n[[ ## completed ## ]]")


class ScriptedServer(FakeServer):
    """`fault(body) -> "500" | "garbage" | None` decides per request (so per row) what goes wrong."""

    fault: Callable[[dict[str, Any]], str | None] | None = None

    def _decide(self, body: dict[str, Any]) -> tuple[int, str]:
        kind = self.fault(body) if self.fault is not None else None
        if kind == "500":
            return 500, ""
        if kind == "garbage":
            return 200, "\x00}{ ]]##@@ lorem ipsum ### [[ ## ## ]] ~~~"
        return super()._decide(body)


_shared: dict[str, Any] = {}


def require_spark() -> None:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        missing(f"{exc.name} is not installed", "pip install -e '.[spark]' (pyspark, pandas, pyarrow)")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        missing("no Java runtime (pyspark needs Java 17+)", "apt-get install openjdk-17-jre-headless")


def fake_server() -> ScriptedServer:
    if "fake" not in _shared:
        _shared["fake"] = ScriptedServer(responder=triage_answer).start()
    return _shared["fake"]


def spark_session() -> Any:
    require_spark()
    if "spark" not in _shared:
        import warnings

        from pyspark.sql import SparkSession

        warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*", category=FutureWarning)
        url = fake_server().url
        # The JVM, and through it every Python worker, inherits this process's environment as it is
        # now: keep a test's LMP_MODEL_* / LMP_CACHE_DIR (monkeypatched for that test only) out of it.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("LMP_MODEL_", "LMP_API_BASE_",
                                                                                 "LMP_CACHE_DIR"))}
        try:
            spark = _build(SparkSession, url)
        finally:
            os.environ.update(saved)
        spark.sparkContext.setLogLevel("ERROR")
        _shared["spark"] = spark
    return _shared["spark"]


def _build(session_class: Any, url: str) -> Any:
    return (session_class.builder.master("local[2]").appName("lmp-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.executorEnv.LMP_API_BASE_DEFAULT", url)
            .config("spark.executorEnv.OPENAI_API_KEY", "sk-test-not-a-secret")
            .getOrCreate())
