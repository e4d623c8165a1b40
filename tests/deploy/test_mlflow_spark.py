"""The model `lmp export mlflow` writes, run through `mlflow.pyfunc.spark_udf` on local[2]: the same
typed output struct as `lmp.spark.udf` and the same values as `lmp run`."""

from __future__ import annotations

import json
import warnings

import pytest

from tests.spark.support import MODEL, TRIAGE, fake_server, spark_session, triage_answer

mlflow = pytest.importorskip("mlflow", reason="MLflow is optional: pip install -e '.[mlflow]' to run these tests")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")


def test_spark_udf_of_the_exported_model_has_the_typed_output(tmp_path, monkeypatch):
    from lmp.cli.main import main
    from lmp.runtime import settings
    from lmp.spark.types import spark_type

    spark = spark_session()  # skips (or fails under LMP_CI=1) without pyspark/Java
    srv = fake_server()
    # Every note present: mlflow's spark_udf casts a string column holding a None next to strings
    # with astype(str), so a null optional string would arrive as "None" (docs/scale.md says so;
    # lmp.spark.udf keeps nulls, tests/spark/test_engine.py).
    srv.fault = None
    srv.responder = lambda body: triage_answer(body).replace("[[ ## note ## ]]\nNone", "[[ ## note ## ]]\nno note")
    monkeypatch.setenv("LMP_API_BASE_DEFAULT", srv.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
    monkeypatch.delenv("LMP_MODEL_DEFAULT", raising=False)
    settings.reset()
    prog = tmp_path / "triage.lmp"
    prog.write_text(TRIAGE)
    out = str(tmp_path / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["export", "mlflow", str(prog), "-o", out, "--model", f"default={MODEL}"]) == 0
        udf = mlflow.pyfunc.spark_udf(spark, out, env_manager="local")

    tickets = [f"ticket {i}: the screen {i % 4} is blank" for i in range(24)]
    df = spark.createDataFrame([(t,) for t in tickets], "ticket string").repartition(2)
    result = df.select("ticket", udf("ticket").alias("r"))
    struct = result.schema["r"].dataType
    handle = __import__("lmp").load(str(prog))
    outputs = handle.interpreter.module("Run").outputs
    assert [f.name for f in struct.fields] == [o.name for o in outputs]
    for o in outputs:
        assert struct[o.name].dataType.simpleString() == spark_type(o.type).simpleString(), o.name

    got = {r["ticket"]: r["r"].asDict(recursive=True) for r in result.collect()}
    settings.configure(models={"default": MODEL}, cache=False)
    try:
        for t in tickets:
            expected = json.loads(json.dumps(handle.interpreter.run("Run", {"ticket": t}).model_dump()))
            assert got[t] == expected, t
    finally:
        settings.reset()
        srv.responder = triage_answer
