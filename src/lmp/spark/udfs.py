"""`lmp.spark.udf(...)`: a module of an lmp program as a Spark column function.

    f = lmp.spark.udf("triage.lmp", "Triage", models={"default": "openai/gpt-4o-mini"})
    out = df.withColumn("triage", f())            # columns named like the module's inputs
    out = df.withColumn("triage", f(ticket="body")) # or input=column
    out.select("id", "triage.label", "triage._error")

It is a pandas (Arrow) UDF over an iterator of batches: one struct column in (the inputs), one
struct column out (the outputs, typed from the program by `lmp.spark.types`, and `_error`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from lmp.spark.worker import Bundle


def make_bundle(program_path_or_text: str | os.PathLike[str], module: str | None = None, *,
                state: Any = None, models: dict[str, str] | None = None, cache: bool | str = True,
                concurrency: int = 8) -> tuple[Bundle, Any]:
    """The bundle for `module` (default: the program's only module) and the driver's loaded handle.

    `program_path_or_text`: a .lmp file (its imports travel with it) or program source text.
    `state`: a state file path, a dict, or None (the program's `<prog>.state.json` if present).
    Loading on the driver checks the program (ProgramError) and the state before any job starts."""
    import lmp
    from lmp.project import load_program
    from lmp.runtime.state import default_state_path

    text_given = not isinstance(program_path_or_text, os.PathLike) and not os.path.isfile(
        str(program_path_or_text)) and ("\n" in str(program_path_or_text)
                                        or not str(program_path_or_text).endswith(".lmp"))
    if text_given:
        files = {"program.lmp": str(program_path_or_text)}
        main = "program.lmp"
        handle = lmp.loads(files[main], state=state) if state is not None else lmp.loads(files[main])
    else:
        path = os.path.abspath(os.fspath(program_path_or_text))
        handle = lmp.load(path, state=state)
        loaded = load_program(path)
        paths = sorted({path, *(os.path.abspath(p) for p in loaded.files)})
        root = os.path.commonpath([os.path.dirname(p) for p in paths])
        files = {}
        for p in paths:
            prog = loaded.files.get(p)
            if prog is not None and prog.text is not None:
                text = prog.text
            else:
                with open(p, encoding="utf-8") as fh:
                    text = fh.read()
            files[os.path.relpath(p, root).replace(os.sep, "/")] = text
        main = os.path.relpath(path, root).replace(os.sep, "/")
        if state is None:
            state = default_state_path(path)
    state_text = None
    if handle.interpreter.state is not None:
        state_text = json.dumps(handle.interpreter.state.raw, ensure_ascii=False, sort_keys=True)
    elif isinstance(state, str | os.PathLike):
        with open(state, encoding="utf-8") as fh:
            state_text = json.dumps(json.load(fh), ensure_ascii=False, sort_keys=True)
    name = str(handle.program.entry_module(module))
    handle.interpreter.module(name)
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    bundle = Bundle(files=files, main=main, state=state_text, module=name, models=dict(models or {}),
                    cache=cache if isinstance(cache, bool) else os.fspath(cache), concurrency=concurrency)
    return bundle, handle


class LmpUdf:
    """A module as a Spark UDF. Call it to get a Column: `f()` reads the columns named like the
    inputs, `f(col_a, col_b)` takes them in the inputs' order, `f(name=col)` by input name (an
    optional input or one with a default may be left out)."""

    def __init__(self, bundle: Bundle, handle: Any) -> None:
        from lmp.spark.types import output_struct
        from lmp.spark.worker import module_types

        self.bundle = bundle
        self.module = bundle.module
        self.inputs, self.outputs = module_types(handle, bundle.module)
        self.returnType = output_struct(self.outputs)  # noqa: N815 - pyspark's spelling
        self._udf: Any = None

    @property
    def input_names(self) -> list[str]:
        return [name for name, _ in self.inputs]

    def pandas_udf(self) -> Any:
        """The underlying pandas UDF (one struct column of the inputs in, the output struct out)."""
        if self._udf is None:
            from collections.abc import Iterator

            import pandas as pd
            from pyspark.sql import functions as F  # noqa: N812

            from lmp.spark.worker import udf_function

            fn = udf_function(self.bundle)
            # pandas_udf infers the iterator flavour from the hints; set them as objects, not strings.
            fn.__annotations__ = {"batches": Iterator[pd.DataFrame], "return": Iterator[pd.DataFrame]}
            # Nondeterministic: Spark must not collapse projections into one call per output field
            # (each would rerun the row) nor assume a rerun gives the same answer.
            self._udf = F.pandas_udf(fn, self.returnType).asNondeterministic()  # type: ignore[call-overload]
        return self._udf

    def __call__(self, *cols: Any, **named: Any) -> Any:
        from pyspark.sql import Column
        from pyspark.sql import functions as F  # noqa: N812

        if not self.inputs:
            raise ValueError(f"{self.module} has no inputs; a Spark UDF needs at least one input column")
        if cols and named:
            raise TypeError("pass the input columns either in order or by name, not both")
        if len(cols) > len(self.inputs):
            raise TypeError(f"{self.module} takes {len(self.inputs)} input(s) ({', '.join(self.input_names)}); "
                            f"got {len(cols)} columns")
        unknown = [k for k in named if k not in self.input_names]
        if unknown:
            raise TypeError(f"{', '.join(unknown)}: not an input of {self.module} (its inputs: "
                            f"{', '.join(self.input_names)})")
        if cols:
            pairs = list(zip(self.input_names, cols, strict=False))
        elif named:
            pairs = [(n, named[n]) for n in self.input_names if n in named]
        else:
            pairs = [(n, n) for n in self.input_names]
        fields = [(c if isinstance(c, Column) else F.col(c)).alias(n) for n, c in pairs]
        return self.pandas_udf()(F.struct(*fields))

    def __repr__(self) -> str:
        return f"<lmp.spark.udf {self.module} -> {self.returnType.simpleString()}>"


def udf(program_path_or_text: str | os.PathLike[str], module: str | None = None, state: Any = None,
        models: dict[str, str] | None = None, *, cache: bool | str = True, concurrency: int = 8) -> LmpUdf:
    """A Spark UDF running `module` of a program on each row (see `LmpUdf` and docs/scale.md).

    `models`: role -> model id, e.g. {"default": "openai/gpt-4o-mini"} (on executors, `LMP_MODEL_<ROLE>`
    and the provider's key variables come from their environment). `cache`: True (each worker's
    `$LMP_CACHE_DIR` or `~/.cache/lmp`), False, or a folder path. `concurrency`: rows in flight per
    Python worker."""
    bundle, handle = make_bundle(program_path_or_text, module, state=state, models=models, cache=cache,
                                 concurrency=concurrency)
    return LmpUdf(bundle, handle)
