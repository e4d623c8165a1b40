"""Literal keys in sources: `lmp check` warns (W111) and `lmp export mlflow` refuses to copy them
unless `--allow-secrets` (issue 14, item 5, second half).

Before: `lmp check` said nothing and `lmp export mlflow` copied a source with a literal `api_key`
into the MLflow artifact without a warning."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lmp.cli.main import main
from lmp.project import load_program

from .helpers import project

KEY = "lmp-literal-key-0a1b2c3d4e5f"
BODY = """
signature Echo {
  in text: str
  out answer: str
}

module E(text: str) -> (answer: str) {
  let p = Predict(Echo)
  return p(text: text)
}
"""


def write(root: Path, model: str, name: str = "prog.lmp") -> Path:
    path = root / name
    path.write_text(model + "\n" + BODY)
    return path


@pytest.mark.parametrize("model, setting", [
    (f'model default = "openai/gpt-4o-mini" {{ api_key: "{KEY}" }}', "api_key"),
    (f'model default = "anthropic/claude-3-5-haiku" {{ temperature: 0.0, auth_token: "{KEY}" }}', "auth_token"),
    ('model default = "openai/x" { api_base: "https://proxy.example/v1?k=sk-proj-AbCdEfGhIjKlMnOpQr" }',
     "api_base"),
], ids=["api_key", "auth_token", "key_in_url"])
def test_check_warns_about_a_literal_key(model: str, setting: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = write(project(tmp_path), model)
    w111 = [d for d in load_program(path).diagnostics if d.code == "W111"]
    assert len(w111) == 1 and w111[0].severity.value == "warning"
    assert w111[0].message == 'literal API key in model params; use env("NAME") or the documented environment variables'
    assert main(["check", "--format", "json", str(path)]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    assert KEY not in out and "sk-proj-AbCd" not in out
    diag = next(d for d in json.loads(out)["diagnostics"] if d["code"] == "W111")
    assert diag["range"]["start"]["line"] == 1
    if setting != "api_base":
        provider = model.split('"')[1].split("/")[0].upper()
        assert diag["fixes"][0]["text"] == f'env("{provider}_API_KEY")'
    else:
        assert diag["fixes"] == []


@pytest.mark.parametrize("model", [
    'model default = "openai/gpt-4o-mini" { api_key: env("OPENAI_API_KEY") }',
    'model default = "openai/gpt-4o-mini" { temperature: 0.0, max_tokens: 512 }',
    'model default = "openai/local" { api_base: "http://127.0.0.1:8080/v1", api_key: "EMPTY" }',
], ids=["env", "no_key", "placeholder"])
def test_no_warning_without_a_literal_key(model: str, tmp_path: Path) -> None:
    path = write(project(tmp_path), model)
    assert "W111" not in [d.code for d in load_program(path).diagnostics]


def test_the_warning_is_reported_in_the_file_that_holds_the_key(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "models.lmp").write_text(f'model default = "openai/gpt-4o-mini" {{ api_key: "{KEY}" }}\n')
    main_file = write(root, 'import "models.lmp"')
    w111 = [d for d in load_program(main_file).diagnostics if d.code == "W111"]
    assert [d.path for d in w111] == [str(root / "models.lmp")]


@pytest.fixture(autouse=True)
def _mlflow_for_exports(request: pytest.FixtureRequest) -> None:
    if "export" in request.node.name:
        pytest.importorskip("mlflow", reason="MLflow is optional: pip install -e '.[mlflow]'")


def export_args(path: Path, out: Path, *extra: str) -> list[str]:
    return ["export", "mlflow", str(path), "-o", str(out), "--model", "default=fake:hello", *extra]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")
def test_export_refuses_a_literal_key_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    path = write(root, f'model default = "openai/gpt-4o-mini" {{ api_key: "{KEY}" }}')
    out = tmp_path / "model"
    assert main(export_args(path, out)) == 2
    err = capsys.readouterr().err
    assert "literal key" in err and f"{path}:1:" in err and "model `default` setting `api_key`" in err
    assert "--allow-secrets" in err and 'env("NAME")' in err
    assert KEY not in err
    assert not out.exists()

    assert main(export_args(path, out, "--allow-secrets")) == 0
    captured = capsys.readouterr()
    assert "warning: exporting a program that holds a literal key" in captured.err and KEY not in captured.err
    copied = out / "artifacts" / "lmp" / "program" / "prog.lmp"
    assert KEY in copied.read_text()  # what --allow-secrets asked for


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")
def test_export_refuses_a_key_anywhere_in_the_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A key in a comment of an imported file is copied just the same.
    monkeypatch.setenv("ACME_API_KEY", "acme-credential-value-123")
    root = project(tmp_path)
    (root / "lib.lmp").write_text("# old key: acme-credential-value-123\nsignature Other = \"a -> b\"\n")
    path = write(root, 'import "lib.lmp"')
    assert main(export_args(path, tmp_path / "model")) == 2
    err = capsys.readouterr().err
    assert f"{root / 'lib.lmp'}:1: a value that looks like a key" in err
    assert "acme-credential-value-123" not in err


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")
def test_export_with_env_keys_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    path = write(root, 'model default = "openai/gpt-4o-mini" { api_key: env("OPENAI_API_KEY") }')
    out = tmp_path / "model"
    assert main(export_args(path, out)) == 0
    assert "warning" not in capsys.readouterr().err
    assert os.path.exists(out / "artifacts" / "lmp" / "program" / "prog.lmp")
