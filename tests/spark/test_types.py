"""IR type -> Spark SQL type, for every type of the language, and values across the Arrow boundary."""

from __future__ import annotations

import pytest

from lmp.ir.types import (
    ANY,
    BOOL,
    FLOAT,
    HISTORY,
    IMAGE,
    INT,
    NONE,
    STR,
    DictType,
    ListType,
    LiteralType,
    OptionalType,
    RecordField,
    RecordType,
)
from tests.spark.support import require_spark


@pytest.fixture(autouse=True)
def _pyspark() -> None:
    require_spark()  # skips with the remedy (fails under LMP_CI=1) when pyspark is missing


def st():  # noqa: ANN201 - pyspark.sql.types, imported once pyspark is known to be there
    from pyspark.sql import types

    return types


LEVEL = LiteralType(("low", "high"), "Level")
PART = RecordType((RecordField("label", STR), RecordField("weight", OptionalType(FLOAT))), "Part")

CASES = [  # (type, the expected Spark type given pyspark.sql.types)
    (STR, lambda st: st.StringType()),
    (INT, lambda st: st.LongType()),
    (FLOAT, lambda st: st.DoubleType()),
    (BOOL, lambda st: st.BooleanType()),
    (LEVEL, lambda st: st.StringType()),
    (IMAGE, lambda st: st.StringType()),
    (ANY, lambda st: st.StringType()),
    (NONE, lambda st: st.NullType()),
    (OptionalType(INT), lambda st: st.LongType()),
    (ListType(STR), lambda st: st.ArrayType(st.StringType(), containsNull=False)),
    (ListType(OptionalType(INT)), lambda st: st.ArrayType(st.LongType(), containsNull=True)),
    (DictType(STR, FLOAT), lambda st: st.MapType(st.StringType(), st.DoubleType(), valueContainsNull=False)),
    (DictType(STR, OptionalType(LEVEL)), lambda st: st.MapType(st.StringType(), st.StringType(), valueContainsNull=True)),
    (PART, lambda st: st.StructType([st.StructField("label", st.StringType(), False),
                                     st.StructField("weight", st.DoubleType(), True)])),
    (ListType(PART), lambda st: st.ArrayType(st.StructType([st.StructField("label", st.StringType(), False),
                                                            st.StructField("weight", st.DoubleType(), True)]),
                                             False)),
    (HISTORY, lambda st: st.ArrayType(st.StringType(), containsNull=True)),
]


@pytest.mark.parametrize(("t", "expected"), CASES, ids=[t.render() for t, _ in CASES])
def test_spark_type_of_every_type(t, expected):
    from lmp.spark.types import spark_type

    assert spark_type(t) == expected(st())


def test_output_struct_has_nullable_outputs_then_error():
    from lmp.spark.types import output_struct, spark_type

    struct = output_struct([("level", LEVEL), ("parts", ListType(PART))])
    assert [f.name for f in struct.fields] == ["level", "parts", "_error"]
    assert all(f.nullable for f in struct.fields)  # a failed row has no outputs
    assert struct["parts"].dataType == spark_type(ListType(PART))
    with pytest.raises(ValueError, match="_error"):
        output_struct([("_error", STR)])


@pytest.mark.parametrize(("value", "t"), [
    ({"label": "x", "weight": None}, PART),
    ([{"label": "a", "weight": 0.5}], ListType(PART)),
    ({"a": 1.5}, DictType(STR, FLOAT)),
    ({"k": [1, {"z": None}]}, ANY),
    ("high", LEVEL),
    (3, INT),
    (None, OptionalType(INT)),
])
def test_values_round_trip(value, t):
    from lmp.spark.types import from_spark, to_spark

    assert from_spark(to_spark(value, t), t) == value


def test_arrow_cells_become_plain_values():
    import numpy as np

    from lmp.spark.types import from_spark, to_spark

    assert from_spark(np.int64(3), INT) == 3 and type(from_spark(np.int64(3), INT)) is int
    assert from_spark(4.0, INT) == 4  # an integer column with nulls arrives as float64
    assert from_spark(float("nan"), OptionalType(FLOAT)) is None
    assert from_spark(np.array(["a", "b"], dtype=object), ListType(STR)) == ["a", "b"]
    assert from_spark([("a", 1)], DictType(STR, INT)) == {"a": 1}  # a map as (key, value) pairs
    assert from_spark('{"a": [1]}', ANY) == {"a": [1]}
    assert to_spark(2, FLOAT) == 2.0 and isinstance(to_spark(2, FLOAT), float)
