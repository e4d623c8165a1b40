"""lmp.spark.udf: the output schema for every type, values through Arrow both ways, rows with errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.spark.support import MODEL, TRIAGE

EVERY = Path(__file__).with_name("every_type.lmp")
DOC = {"title": "T", "parts": [{"label": "p", "weight": None}, {"label": "q", "weight": 0.25}], "meta": {"k": 2},
       "rating": "high"}
EVERY_ANSWER = ("[[ ## s ## ]]\nhello\n\n[[ ## i ## ]]\n7\n\n[[ ## f ## ]]\n2.5\n\n[[ ## b ## ]]\ntrue\n\n"
                "[[ ## level ## ]]\nlow\n\n[[ ## nums ## ]]\n[1, 2, 3]\n\n[[ ## scores ## ]]\n{\"x\": 0.5}\n\n"
                f"[[ ## maybe ## ]]\nNone\n\n[[ ## report ## ]]\n{json.dumps(DOC)}\n\n"
                f"[[ ## reports ## ]]\n{json.dumps([DOC])}\n\n[[ ## completed ## ]]")


def test_udf_output_schema_and_values_for_every_type(spark, fake):
    import lmp.spark
    from lmp.spark.types import spark_type

    fake.responder = lambda body: EVERY_ANSWER
    f = lmp.spark.udf(str(EVERY), "All", models={"default": MODEL}, cache=False)
    handle = __import__("lmp").load(str(EVERY))
    outputs = handle.interpreter.module("All").outputs
    params = handle.interpreter.module("All").params
    # Input columns typed the same way as outputs: a user's table with these columns fits the UDF.
    schema = ", ".join(f"`{p.name}` {spark_type(p.type).simpleString()}" for p in params)
    rows = [("first", "https://example.com/a.png", [json.dumps({"role": "user", "content": "hi"})],
             {"title": "x", "parts": [{"label": "l", "weight": 1.0}], "meta": {"m": 1}, "rating": None},
             {"a": 1}, None),
            ("second", "https://example.com/b.png", [], {"title": "y", "parts": [], "meta": {}, "rating": "low"},
             {}, 3)]
    df = spark.createDataFrame(rows, schema)
    out = df.select("text", f().alias("r"))
    struct = out.schema["r"].dataType
    assert [fl.name for fl in struct.fields] == [o.name for o in outputs] + ["_error"]
    for o in outputs:
        assert struct[o.name].dataType == spark_type(o.type), o.name
    assert struct["_error"].dataType.simpleString() == "string"
    got = {r["text"]: r["r"].asDict(recursive=True) for r in out.collect()}
    for text in ("first", "second"):
        row = got[text]
        assert row["_error"] is None, row["_error"]
        assert (row["s"], row["i"], row["f"], row["b"], row["level"]) == ("hello", 7, 2.5, True, "low")
        assert row["nums"] == [1, 2, 3] and row["scores"] == {"x": 0.5} and row["maybe"] is None
        assert row["report"] == DOC and row["reports"] == [DOC]
    # The inputs reached the model as the program's typed values (one request per row).
    sent = json.dumps([r.body["messages"] for r in fake.completion_requests()[-2:]])
    assert "example.com/a.png" in sent and "example.com/b.png" in sent and "hi" in sent


def test_udf_keeps_failed_rows_with_their_error(spark, fake):
    import lmp.spark

    fake.fault = lambda body: "garbage" if "ticket 3" in json.dumps(body["messages"]) else None
    f = lmp.spark.udf(TRIAGE, "Run", models={"default": MODEL}, cache=False, concurrency=4)
    df = spark.createDataFrame([(i, f"ticket {i}") for i in range(6)], "id long, body string")
    rows = {r["id"]: r for r in df.select("id", f(ticket="body").alias("r")).select("id", "r.*").collect()}
    assert len(rows) == 6
    assert rows[3]["_error"] and rows[3]["priority"] is None and "priority" in rows[3]["_error"]
    assert all(rows[i]["_error"] is None and rows[i]["priority"] in ("low", "high") for i in (0, 1, 2, 4, 5))


def test_udf_arguments_are_checked_on_the_driver(spark):
    import lmp.spark

    f = lmp.spark.udf(TRIAGE, "Run", models={"default": MODEL}, cache=False)
    assert f.input_names == ["ticket"]
    assert "priority:string" in repr(f)
    with pytest.raises(TypeError, match="not an input of Run"):
        f(body="x")
    with pytest.raises(Exception, match="error"):
        lmp.spark.udf("module Broken(x: str) -> (y: int) {\n  return nope\n}\n", "Broken")
