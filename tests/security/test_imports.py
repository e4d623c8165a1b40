"""Imports resolve to .lmp program sources inside the project (or the search path) only, and no
diagnostic ever quotes a file that is not a program source (issue 14, item 1).

Before: `import "/proc/self/environ"` made `lmp check` print the first line of the process
environment (API keys included) as the excerpt of a syntax error; `/etc/shadow` and
`../../../../etc/passwd` likewise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmp.cli.main import main
from lmp.project import load_program

from .helpers import project

SECRET = "lmp-test-secret-value-9f8e7d6c5b4a"
QA = 'signature QA = "question -> answer"\n'
USES_QA = ('module Answer(question: str) -> (answer: str) {\n  let qa = Predict(QA)\n'
           '  return qa(question: question)\n}\n')


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A variable whose name does not look like a credential: only the import rules can keep it out.
    monkeypatch.setenv("LMP_TEST_PLAIN_VALUE", SECRET)


def check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["check", *extra, str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def codes(path: Path) -> list[str]:
    return [d.code for d in load_program(path).diagnostics]


def test_proc_self_environ_is_refused_and_never_quoted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    main_file = root / "main.lmp"
    main_file.write_text('import "/proc/self/environ"\n' + QA)
    code, out = check(main_file, capsys)
    assert code == 1
    assert "E102" in out and "absolute path" in out
    assert SECRET not in out and "LMP_TEST_PLAIN_VALUE" not in out and "PATH=" not in out


@pytest.mark.parametrize("target", ["/etc/shadow", "/etc/passwd", "../../../../../../../../etc/passwd",
                                    "../../../../../../../../etc/passwd.lmp"])
def test_system_files_are_refused(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    main_file = root / "main.lmp"
    main_file.write_text(f'import "{target}"\n' + QA)
    code, out = check(main_file, capsys, "--format", "json")
    assert code == 1
    assert '"E102"' in out
    assert "root:" not in out and "/bin/bash" not in out and "daemon" not in out


def test_escaping_the_root_with_dotdot_is_refused_even_for_a_real_lmp_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    (tmp_path / "outside.lmp").write_text(f"this line is not a program {SECRET}\n")
    main_file = root / "main.lmp"
    main_file.write_text('import "../outside.lmp"\n' + QA)
    code, out = check(main_file, capsys)
    assert code == 1 and "E102" in out and "outside the project root" in out
    assert SECRET not in out


def test_a_symlink_leading_out_of_the_root_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "notes.lmp").write_text(f"{SECRET} is not a declaration\n")
    (root / "lib.lmp").symlink_to(outside / "notes.lmp")
    (root / "passwd.lmp").symlink_to("/etc/passwd")
    main_file = root / "main.lmp"
    main_file.write_text('import "lib.lmp"\nimport "passwd.lmp"\n' + QA)
    code, out = check(main_file, capsys)
    assert code == 1
    assert out.count("E102") == 2 and "link that leads outside" in out
    assert SECRET not in out and "root:" not in out


def test_files_that_are_not_lmp_sources_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    (root / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    main_file = root / "main.lmp"
    main_file.write_text('import ".env"\n' + QA)
    code, out = check(main_file, capsys)
    assert code == 1 and "E102" in out and "not a .lmp file" in out
    assert SECRET not in out


def test_imports_inside_the_project_still_work(tmp_path: Path) -> None:
    # `..` is fine while it stays under the root (the folder with pyproject.toml or .git).
    for marker in ("pyproject.toml", ".git"):
        base = tmp_path / marker.strip(".")
        base.mkdir()
        root = project(base, marker)
        (root / "shared").mkdir()
        (root / "shared" / "qa.lmp").write_text(QA)
        (root / "app").mkdir()
        app = root / "app" / "main.lmp"
        app.write_text('import "../shared/qa.lmp"\n\n' + USES_QA)
        loaded = load_program(app)
        assert loaded.errors == [], [d.message for d in loaded.errors]
        assert loaded.program.imports[0].resolved == str(root / "shared" / "qa.lmp")


def test_without_a_marker_the_root_is_the_importing_files_folder(tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "qa.lmp").write_text(QA)
    (tmp_path / "qa.lmp").write_text(QA)
    ok = folder / "ok.lmp"
    ok.write_text('import "sub/qa.lmp"\n\n' + USES_QA)
    assert load_program(ok).errors == []
    up = folder / "up.lmp"
    up.write_text('import "../qa.lmp"\n\n' + USES_QA)
    assert "E102" in codes(up)


def test_search_path_from_lmp_path_and_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    shared = tmp_path / "shared-prompts"
    shared.mkdir()
    (shared / "qa.lmp").write_text(QA)
    main_file = root / "main.lmp"
    main_file.write_text('import "qa.lmp"\n\n' + USES_QA)
    assert "E100" in codes(main_file)

    monkeypatch.setenv("LMP_PATH", str(shared))
    loaded = load_program(main_file)
    assert loaded.errors == [] and loaded.program.imports[0].resolved == str(shared / "qa.lmp")

    monkeypatch.delenv("LMP_PATH")
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\n\n[tool.lmp]\npath = ["../shared-prompts"]\n')
    loaded = load_program(main_file)
    assert loaded.errors == [] and loaded.program.imports[0].resolved == str(shared / "qa.lmp")

    # A file found through the search path may not climb out of its search-path folder.
    (tmp_path / "secret.lmp").write_text(f"{SECRET}\n")
    main_file.write_text('import "../secret.lmp"\n\n' + USES_QA)
    loaded = load_program(main_file)
    assert "E102" in [d.code for d in loaded.diagnostics]
    assert all(SECRET not in d.message for d in loaded.diagnostics)


def test_every_diagnostic_is_scrubbed_of_key_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A program source may itself hold a key on a line with an error: neither the message nor
    # the excerpt shows it.
    env_key = "env-held-credential-0123456789"
    monkeypatch.setenv("SOME_SERVICE_TOKEN", env_key)
    root = project(tmp_path)
    main_file = root / "main.lmp"
    main_file.write_text(QA + 'oops sk-proj-AbCdEfGhIjKlMnOpQrStUvWx ghp_abcdefghijklmnopqrstuvwxyz0123 '
                         f'{env_key}\n')
    code, out = check(main_file, capsys)
    assert code == 1 and "E001" in out
    assert "sk-proj-AbCd" not in out and "ghp_abcdefghij" not in out and env_key not in out
    assert "***" in out
    code, out = check(main_file, capsys, "--format", "json")
    assert "sk-proj-AbCd" not in out and env_key not in out


def test_resolution_follows_the_realpath_of_the_root(tmp_path: Path) -> None:
    # A project reached through a symlinked folder still resolves its own imports.
    root = project(tmp_path)
    (root / "qa.lmp").write_text(QA)
    (root / "main.lmp").write_text('import "qa.lmp"\n\n' + USES_QA)
    link = tmp_path / "link"
    os.symlink(root, link)
    assert load_program(link / "main.lmp").errors == []


def test_a_refused_import_leads_nowhere(tmp_path: Path) -> None:
    # Go-to-definition follows `Import.resolved`: an editor must not be sent to open /proc/self/environ.
    root = project(tmp_path)
    main_file = root / "main.lmp"
    main_file.write_text('import "/proc/self/environ"\nimport "../x.lmp"\nimport "missing.lmp"\n' + QA)
    loaded = load_program(main_file)
    assert [i.resolved for i in loaded.program.imports] == [None, None, None]
    assert sorted(d.code for d in loaded.diagnostics) == ["E100", "E102", "E102"]
