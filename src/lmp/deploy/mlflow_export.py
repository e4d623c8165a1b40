"""`lmp export mlflow prog.lmp --state s.json -o model_dir`: an MLflow pyfunc model directory.

Layout (inside the MLflow model directory):

    MLmodel, requirements.txt, python_env.yaml, conda.yaml    (MLflow's)
    mlflow_model_code.py                                       (models-from-code entry: no pickle)
    artifacts/lmp/lmp_model.json                               module, main file, roles, lmp version
    artifacts/lmp/program/...                                  the .lmp source and its imports
    artifacts/lmp/state.json                                   the optimized state (if any)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lmp.ir.nodes import Module
from lmp.ir.types import AnyType, DictType, ListType, LiteralType, OptionalType, PrimType, RecordType, Type

ENTRY_FILE = os.path.join(os.path.dirname(__file__), "mlflow_model_code.py")


class ExportError(Exception):
    user_facing = True


class SecretsExportedWarning(UserWarning):
    """`--allow-secrets`: the exported sources hold a literal key."""


def find_secrets(files: dict[str, Any]) -> list[str]:
    """`path:line:col: what` for every literal key in the program sources about to be copied:
    model settings holding a key (W111) and any line with a key-shaped value or the value of a
    credential variable of this process (comments and strings included). Never the key itself."""
    from lmp.checker.secrets import literal_secrets
    from lmp.secrets import scrub

    found: dict[tuple[str, int], str] = {}
    for path, prog in files.items():
        for hit in literal_secrets(prog):
            found[(path, hit.span.line)] = (f"{path}:{hit.span.line + 1}:{hit.span.col + 1}: model `{hit.model}` "
                                            f"setting `{hit.setting}`")
        for n, line in enumerate((prog.text or "").splitlines()):
            if (path, n) not in found and scrub(line) != line:
                found[(path, n)] = f"{path}:{n + 1}: a value that looks like a key"
    return [found[k] for k in sorted(found)]


def _common_root(paths: list[str]) -> str:
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    return root


def _mlflow_type(t: Type) -> Any:
    """IR type -> MLflow schema type (None when MLflow's schema cannot express it)."""
    from mlflow.types.schema import Array, DataType, Object, Property

    if isinstance(t, OptionalType):
        return _mlflow_type(t.inner)
    if isinstance(t, PrimType):
        return {"str": DataType.string, "int": DataType.long, "float": DataType.double,
                "bool": DataType.boolean}[t.name]
    if isinstance(t, LiteralType):
        return DataType.string
    if isinstance(t, ListType):
        inner = _mlflow_type(t.item)
        return None if inner is None else Array(inner)
    if isinstance(t, RecordType):
        props = []
        for f in t.fields:
            ft = _mlflow_type(f.type)
            if ft is None:
                return None
            props.append(Property(f.name, ft, required=not isinstance(f.type, OptionalType)))
        return Object(props) if props else None
    if isinstance(t, DictType | AnyType):
        return None
    return None


def signature_for(mod: Module) -> Any:
    """An MLflow ModelSignature from the module's types, or None if a type has no MLflow equivalent
    (dict[...] and untyped values); params: module, concurrency, on_error."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    def cols(items: list[tuple[str, Type, bool]]) -> Schema | None:
        specs = []
        for name, t, required in items:
            mt = _mlflow_type(t)
            if mt is None:
                return None
            specs.append(ColSpec(mt, name, required=required))
        return Schema(specs)

    inputs = cols([(p.name, p.type, p.default is None and not isinstance(p.type, OptionalType)) for p in mod.params])
    outputs = cols([(f.name, f.type, True) for f in mod.outputs])
    if inputs is None or outputs is None or not mod.params:
        return None
    params = ParamSchema([ParamSpec("concurrency", "long", 4), ParamSpec("on_error", "string", "raise")])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def export_mlflow(program: str, output: str, *, state: str | None = None, module: str | None = None,
                  models: dict[str, str] | None = None, lmp_requirement: str | None = None,
                  extra_requirements: list[str] | None = None, include: list[str] | None = None,
                  code_paths: list[str] | None = None, cache: bool | str = False,
                  signature: bool = True, allow_secrets: bool = False) -> str:
    """Write an MLflow pyfunc model for `module` of `program` to `output` (must not exist).

    A program whose sources hold a literal key is refused (ExportError): the artifact would carry
    the key to every registry and server it is copied to. With `allow_secrets` it is exported and a
    `SecretsExportedWarning` names where the keys are."""
    import mlflow.pyfunc

    from lmp import __version__
    from lmp.api import load

    if os.path.exists(output):
        raise ExportError(f"{output} already exists; MLflow writes a new directory (remove it or choose another -o)")
    handle = load(program, state=state)  # refuses programs with checker errors, validates the state
    mod_name = handle.program.entry_module(module)
    mod = handle.interpreter.module(mod_name)
    from lmp.project import load_program

    loaded = load_program(os.path.abspath(program))
    files = [os.path.abspath(p) for p in loaded.files]
    secrets = find_secrets(loaded.files)
    if secrets and not allow_secrets:
        raise ExportError(
            "the program holds a literal key, which the exported model would carry to every place it is "
            "copied:\n  " + "\n  ".join(secrets) + '\nRead keys with env("NAME") in the model settings or '
            "leave them to the provider's environment variable (e.g. OPENAI_API_KEY, set where the model is "
            "served); or pass --allow-secrets to export anyway")
    if secrets:
        import warnings

        warnings.warn("exporting a program that holds a literal key (--allow-secrets):\n  " + "\n  ".join(secrets),
                      SecretsExportedWarning, stacklevel=2)
    main = os.path.abspath(program)
    root = _common_root([main, *files])

    with tempfile.TemporaryDirectory(prefix="lmp-export-") as tmp:
        art = Path(tmp) / "lmp"
        prog_dir = art / "program"
        for path in sorted(set([main, *files])):
            dest = prog_dir / os.path.relpath(path, root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            text = loaded.files[path].text if path in loaded.files else Path(path).read_text(encoding="utf-8")
            dest.write_text(text, encoding="utf-8")
        for extra in include or []:
            src = os.path.abspath(os.path.join(os.path.dirname(main), extra))
            if not os.path.exists(src):
                raise ExportError(f"--include {extra}: no such file or directory (paths are relative to the program)")
            rel = os.path.relpath(src, root)
            if rel.startswith(".."):
                raise ExportError(f"--include {extra} is outside the program's folder {root}")
            if os.path.isdir(src):
                shutil.copytree(src, prog_dir / rel, dirs_exist_ok=True)
            else:
                (prog_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, prog_dir / rel)
        state_rel = None
        state_path = state
        if state_path is None:
            from lmp.runtime.state import default_state_path

            state_path = default_state_path(main)
        if state_path:
            data = json.loads(Path(state_path).read_text(encoding="utf-8"))
            (art / "state.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            state_rel = "state.json"
        config = {
            "format": 1,
            "lmp_version": __version__,
            "module": mod_name,
            "main": os.path.relpath(main, root),
            "state": state_rel,
            "models": dict(models or {}),
            "cache": cache,
            "inputs": {p.name: p.type.render() for p in mod.params},
            "outputs": {f.name: f.type.render() for f in mod.outputs},
        }
        (art / "lmp_model.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

        import pandas

        reqs = [lmp_requirement or f"lmp=={__version__}", f"mlflow=={mlflow.__version__}",
                f"pandas=={pandas.__version__}", *(extra_requirements or [])]
        import warnings

        with warnings.catch_warnings():
            # "An input example was not provided": an example would make MLflow run the model
            # (call the LM) at export time.
            warnings.filterwarnings("ignore", message=".*input example.*")
            _save(mlflow, output, art, reqs, code_paths, signature_for(mod) if signature else None, cache, mod_name,
                  __version__, main)
    return output


def _save(mlflow: Any, output: str, art: Path, reqs: list[str], code_paths: list[str] | None, signature: Any,
          cache: bool | str, mod_name: str, version: str, main: str) -> None:
    mlflow.pyfunc.save_model(
        output,
        python_model=ENTRY_FILE,
        artifacts={"lmp": str(art)},
        pip_requirements=reqs,
        code_paths=list(code_paths or []) or None,
        signature=signature,
        # Keys that `load_model(..., model_config=...)` (or MLFLOW_PYFUNC_INFERENCE_CONFIG) may
        # override at load time; MLflow ignores keys that were not saved.
        model_config={"models": {}, "cache": cache, "module": mod_name},
        metadata={"lmp_version": version, "lmp_module": mod_name, "lmp_program": os.path.basename(main)},
    )
