"""The pre-commit hooks (.pre-commit-hooks.yaml) do what docs/editors.md#pre-commit says."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.cli_helpers import ROOT
from tests.tooling import missing, strict

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
GOOD = (ROOT / "examples" / "classify" / "classify.lmp").read_text(encoding="utf-8")
BAD = "signature S {\n  in  q: strr\n  out a: str\n}\n"
UNFORMATTED = "signature S {\n    in q: str\n  out a:str\n}\n"


def _hooks() -> dict[str, dict]:
    try:
        from pre_commit.clientlib import load_manifest
    except ImportError:
        missing("pre-commit is not installed", "pip install -e '.[dev]' (it is in the dev extra)")
    return {h["id"]: h for h in load_manifest(str(MANIFEST))}  # pre-commit's own validation


def _run_as_pre_commit(hook: dict, files: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The hook's entry with the staged files appended, as pre-commit runs it (from this environment's lmp)."""
    entry = shlex.split(hook["entry"])
    assert entry[0] == "lmp"
    cmd = [sys.executable, "-m", "lmp.cli.main", *entry[1:], *hook.get("args", []), *(str(f) for f in files)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_manifest_declares_check_and_fmt_for_lmp_files():
    hooks = _hooks()
    assert set(hooks) == {"lmp-check", "lmp-fmt"}
    for hook in hooks.values():
        assert hook["language"] == "python"  # pre-commit installs lmp from this repository
        assert re.search(hook["files"], "src/app/flow.lmp") and not re.search(hook["files"], "flow.py")


def test_check_hook_passes_good_files_and_stops_on_an_error(tmp_path):
    hook = _hooks()["lmp-check"]
    (tmp_path / "good.lmp").write_text(GOOD)
    (tmp_path / "bad.lmp").write_text(BAD)
    ok = _run_as_pre_commit(hook, [tmp_path / "good.lmp"], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = _run_as_pre_commit(hook, [tmp_path / "good.lmp", tmp_path / "bad.lmp"], tmp_path)
    assert failed.returncode == 1
    assert "bad.lmp:2:10: error[E010]: unknown type `strr`" in failed.stdout


def test_fmt_hook_rewrites_files_in_canonical_layout(tmp_path):
    hook = _hooks()["lmp-fmt"]
    path = tmp_path / "ugly.lmp"
    path.write_text(UNFORMATTED)
    out = _run_as_pre_commit(hook, [path], tmp_path)
    assert out.returncode == 0, out.stderr
    assert path.read_text() == "signature S {\n  in  q: str\n  out a: str\n}\n"  # pre-commit sees the change


def test_pre_commit_try_repo_installs_and_runs_the_check_hook(tmp_path):
    """The real thing: pre-commit installs lmp from this repository into its own environment (about a
    minute), then runs the hook on a staged file. Only in CI: it installs lmp's dependencies again."""
    _hooks()
    if not strict():
        pytest.skip("installs lmp into a new environment (~1 min): runs under LMP_CI=1 (.ci/run)")
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(pre_commit).exists():
        missing("the pre-commit command is not on PATH", "pip install -e '.[dev]'")
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("this checkout is not a git repository (pre-commit installs hooks from one)")
    project = tmp_path / "project"
    project.mkdir()
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, env=env)
    (project / "good.lmp").write_text(GOOD)
    (project / "bad.lmp").write_text(BAD)
    subprocess.run(["git", "add", "good.lmp", "bad.lmp"], cwd=project, check=True, env=env)
    out = subprocess.run([pre_commit, "try-repo", str(ROOT), "lmp-check", "--files", "good.lmp", "bad.lmp"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "lmp check" in out.stdout and "Failed" in out.stdout
    assert "bad.lmp:2:10: error[E010]: unknown type `strr`" in out.stdout
