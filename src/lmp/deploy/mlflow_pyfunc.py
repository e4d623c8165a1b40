"""The MLflow pyfunc flavour of an lmp program (`lmp export mlflow`).

Nothing here is pickled: the exported model directory holds the program SOURCE (with its imported
.lmp files), the state as JSON and a small `lmp_model.json`; MLflow loads this class through the
models-from-code entry file `mlflow_model_code.py`, and `load_context` rebuilds the program with
`lmp.loads(...)`. Requires `pip install 'lmp[mlflow]'`.

Model roles are resolved at load time, highest first: `model_config={"models": {ROLE: ID}}`
given to `mlflow.pyfunc.load_model`, the environment `LMP_MODEL_<ROLE>`, the `--model` values given
at export time, then the program's own `model` declarations.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import mlflow.pyfunc
import pandas as pd

from lmp.secrets import scrub, scrub_data

ARTIFACT_KEY = "lmp"
CONFIG_NAME = "lmp_model.json"


def _plain(value: Any) -> Any:
    """pandas/numpy/pyarrow cell values -> plain Python (None for missing)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):  # numpy scalars and arrays
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "asDict"):  # a Spark Row
        return _plain(value.asDict(recursive=True))
    return value


def _rows(model_input: Any) -> list[dict[str, Any]]:
    if isinstance(model_input, pd.DataFrame):
        records = model_input.to_dict(orient="records")
    elif isinstance(model_input, dict):
        records = [model_input]
    elif isinstance(model_input, list):
        records = list(model_input)
    else:
        raise TypeError(f"lmp models take a pandas DataFrame (one row per call), got {type(model_input).__name__}")
    out = []
    for r in records:
        if not isinstance(r, dict):
            raise TypeError(f"each row must be a mapping of input names to values, got {type(r).__name__}")
        out.append({str(k): v for k, v in ((k, _plain(v)) for k, v in r.items()) if v is not None})
    return out


class LmpPythonModel(mlflow.pyfunc.PythonModel):
    """Runs one module of an lmp program on each row of a DataFrame; returns a DataFrame of outputs."""

    def load_context(self, context: Any) -> None:
        import lmp
        from lmp.runtime.lm.roles import _env_name

        root = context.artifacts[ARTIFACT_KEY]
        with open(os.path.join(root, CONFIG_NAME), encoding="utf-8") as fh:
            self.config = json.load(fh)
        main = os.path.join(root, "program", self.config["main"])
        with open(main, encoding="utf-8") as fh:
            source = fh.read()
        state = None
        if self.config.get("state"):
            with open(os.path.join(root, self.config["state"]), encoding="utf-8") as fh:
                state = json.load(fh)
        # Export-time roles lose to LMP_MODEL_<ROLE> (deployment environments set those), and both
        # lose to model_config given to load_model.
        models = {role: mid for role, mid in (self.config.get("models") or {}).items()
                  if not os.environ.get(_env_name("LMP_MODEL_", role))}
        model_config = dict(getattr(context, "model_config", None) or {})
        models.update(model_config.get("models") or {})
        self.models = models
        self.cache = model_config.get("cache", self.config.get("cache", False))
        self.module = model_config.get("module") or self.config["module"]
        self.handle = lmp.loads(source, path=main, state=state)
        self.handle.interpreter.module(self.module)  # fails at load, not per row, if it is unknown

    def _run_one(self, inputs: dict[str, Any], module: str) -> dict[str, Any]:
        from lmp.runtime import settings

        with settings.context(models=self.models, cache=self.cache):
            return self.handle.interpreter.run(module, inputs).model_dump()

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = dict(params or {})
        module = params.get("module") or self.module
        concurrency = max(1, int(params.get("concurrency") or 4))
        on_error = params.get("on_error") or "raise"
        if on_error not in ("raise", "null"):
            raise ValueError(f"on_error must be 'raise' or 'null', got {on_error!r}")
        rows = _rows(model_input)
        outputs = [f.name for f in self.handle.program.modules[module].outputs]

        def one(inputs: dict[str, Any]) -> dict[str, Any]:
            # Predictions go to whoever called the model (and MLflow's logs): a key the model
            # or a provider repeated is masked (lmp.secrets).
            if on_error == "raise":
                return scrub_data(self._run_one(inputs, module))
            try:
                return {**scrub_data(self._run_one(inputs, module)), "_error": None}
            except Exception as exc:  # noqa: BLE001 - reported in the row, the batch goes on
                return {**{name: None for name in outputs}, "_error": scrub(f"{type(exc).__name__}: {exc}")}

        if concurrency == 1 or len(rows) <= 1:
            results = [one(r) for r in rows]
        else:
            import contextvars

            with ThreadPoolExecutor(max_workers=min(concurrency, len(rows)), thread_name_prefix="lmp-pyfunc") as pool:
                results = list(pool.map(lambda r: contextvars.copy_context().run(one, r), rows))
        columns = outputs + (["_error"] if on_error == "null" else [])
        # Object columns, so a None output stays None: pandas 3 would store a column of strings and
        # None in its string dtype, with NaN for None.
        return pd.DataFrame({c: pd.Series([r.get(c) for r in results], dtype=object) for c in columns},
                            columns=columns)
