"""Run lmp programs on Apache Spark (`pip install 'lmp[spark]'`; see docs/scale.md).

    import lmp.spark
    f = lmp.spark.udf("triage.lmp", "Triage", models={"default": "openai/gpt-4o-mini"})
    df.withColumn("triage", f()).select("id", "triage.*")

`udf` is a pandas (Arrow) UDF typed from the program; `spark_type` maps an lmp type to its Spark SQL
type. pyspark is imported when these are first used, never by `import lmp`.
"""

from __future__ import annotations

from typing import Any

_EXTRA = "pip install 'lmp[spark]'"


def require_pyspark() -> None:
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"lmp.spark needs pyspark, pandas and pyarrow ({exc.name} is missing): {_EXTRA}") from None


def udf(program_path_or_text: Any, module: str | None = None, state: Any = None,
        models: dict[str, str] | None = None, **options: Any) -> Any:
    """A Spark UDF running a module of a program; see `lmp.spark.udfs.udf` for the options."""
    require_pyspark()
    from lmp.spark.udfs import udf as make

    return make(program_path_or_text, module, state, models, **options)


def spark_type(t: Any) -> Any:
    """The Spark SQL type for an lmp IR type (see `lmp.spark.types`)."""
    require_pyspark()
    from lmp.spark.types import spark_type as convert

    return convert(t)


__all__ = ["require_pyspark", "spark_type", "udf"]
