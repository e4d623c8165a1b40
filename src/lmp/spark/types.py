"""IR types <-> Spark SQL types, and values across the Arrow boundary in both directions.

The mapping (one rule per kind of type, so a schema can be predicted from the program):

    str, Image            -> string
    int / float / bool    -> bigint / double / boolean
    "a" | "b" (literal)   -> string (the member)
    list[T], History      -> array<T>   (elements nullable only when T is optional)
    dict[str, V]          -> map<string, V>
    record {a: T, b: U?}  -> struct<a: T not null, b: U>
    T?                    -> T, nullable where it sits
    any                   -> string holding the value as JSON text
    none                  -> void (always null)

A module's outputs become one struct (every field nullable at the top, since a failed row has no
outputs) followed by `_error: string`. Importing this module imports pyspark: only `lmp.spark` does.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pyspark.sql import types as st

from lmp.ir.types import (
    AnyType,
    DictType,
    ListType,
    LiteralType,
    MediaType,
    NoneType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
)

ERROR_COLUMN = "_error"

_PRIMS: dict[str, st.DataType] = {"str": st.StringType(), "int": st.LongType(), "float": st.DoubleType(),
                                  "bool": st.BooleanType()}


def spark_type(t: Type) -> st.DataType:
    """The Spark SQL type that holds values of the IR type `t` (see the module docstring)."""
    if isinstance(t, OptionalType):
        return spark_type(t.inner)
    if isinstance(t, PrimType):
        return _PRIMS[t.name]
    if isinstance(t, LiteralType | MediaType | AnyType):
        return st.StringType()
    if isinstance(t, ListType):  # History is a ListType too
        return st.ArrayType(spark_type(t.item), containsNull=_nullable(t.item))
    if isinstance(t, DictType):
        return st.MapType(st.StringType(), spark_type(t.value), valueContainsNull=_nullable(t.value))
    if isinstance(t, RecordType):
        return st.StructType([st.StructField(f.name, spark_type(f.type), nullable=_nullable(f.type))
                              for f in t.fields])
    if isinstance(t, NoneType):
        return st.NullType()
    raise TypeError(f"no Spark type for the lmp type {t.render()} ({type(t).__name__})")


def _nullable(t: Type) -> bool:
    return isinstance(t, OptionalType | AnyType | NoneType)


def output_struct(fields: list[tuple[str, Type]]) -> st.StructType:
    """The UDF's return type: the outputs (nullable: a failed row has none) and `_error`."""
    cols = [st.StructField(name, spark_type(t), nullable=True) for name, t in fields]
    if any(name == ERROR_COLUMN for name, _ in fields):
        raise ValueError(f"an output named `{ERROR_COLUMN}` collides with the UDF's error column")
    return st.StructType([*cols, st.StructField(ERROR_COLUMN, st.StringType(), nullable=True)])


# ------------------------------------------------------------------ values: lmp -> Spark


def to_spark(value: Any, t: Type) -> Any:
    """A plain lmp value (to_plain output) as the Python value Arrow converts to `spark_type(t)`."""
    if value is None:
        return None
    if isinstance(t, OptionalType):
        return to_spark(value, t.inner)
    if isinstance(t, AnyType):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(t, PrimType):
        if t.name == "float":
            return float(value)
        if t.name == "int":
            return int(value)
        if t.name == "bool":
            return bool(value)
        return str(value)
    if isinstance(t, LiteralType | MediaType):
        return str(value)
    if isinstance(t, ListType):
        return [to_spark(v, t.item) for v in value]
    if isinstance(t, DictType):
        return {str(k): to_spark(v, t.value) for k, v in value.items()}
    if isinstance(t, RecordType):
        get = value.get if hasattr(value, "get") else (lambda name: getattr(value, name, None))
        return {f.name: to_spark(get(f.name), f.type) for f in t.fields}
    if isinstance(t, NoneType):
        return None
    return value


# ------------------------------------------------------------------ values: Spark -> lmp


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas comes with the spark extra
        return False


def from_spark(value: Any, t: Type) -> Any:
    """A cell as Arrow/pandas hands it to a Python worker (numpy scalars and arrays, dicts for
    structs, dicts or (key, value) pairs for maps, NaN for a missing float) as the plain value the
    interpreter takes for the IR type `t`. Missing -> None. `any` cells hold JSON text."""
    if is_missing(value):
        return None
    if hasattr(value, "asDict"):  # a pyspark Row (collect() results)
        value = value.asDict(recursive=False)
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(t, OptionalType):
        return from_spark(value, t.inner)
    if isinstance(t, AnyType):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return _plain(value)
    if isinstance(t, PrimType):
        if t.name == "int" and isinstance(value, float) and value.is_integer():
            return int(value)  # an integer column with nulls arrives as float64
        return value
    if isinstance(t, ListType):
        return [from_spark(v, t.item) for v in value]
    if isinstance(t, DictType):
        items = value.items() if isinstance(value, dict) else value
        return {str(k): from_spark(v, t.value) for k, v in items}
    if isinstance(t, RecordType):
        out: dict[str, Any] = {}
        for f in t.fields:
            v = from_spark(value.get(f.name), f.type)
            if v is not None or isinstance(f.type, OptionalType):
                out[f.name] = v
        return out
    return value


def _plain(value: Any) -> Any:
    if is_missing(value):
        return None
    if hasattr(value, "asDict"):
        value = value.asDict(recursive=False)
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
