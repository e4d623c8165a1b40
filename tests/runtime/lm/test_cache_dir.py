"""The response cache and the call history default to the user's cache folder, not the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lmp.cachedir import user_cache_root
from lmp.runtime.lm.cache import DiskCache, default_cache_dir
from lmp.runtime.lm.history import History

ROOT = Path(__file__).resolve().parents[3]


def test_default_is_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("LMP_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "lmp"
    assert History.default_file() == tmp_path / "xdg" / "lmp" / "history.jsonl"
    cache = DiskCache()
    try:
        assert cache.path == tmp_path / "xdg" / "lmp" / "responses.sqlite"
        assert cache.path.is_file()
    finally:
        cache.close()


def test_without_xdg_it_is_home_dot_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("LMP_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "lmp"
    # The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert user_cache_root() == tmp_path / ".cache" / "lmp"


def test_lmp_cache_dir_still_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_a_run_leaves_nothing_in_the_workspace(tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    (work / "echo.lmp").write_text(
        'signature Echo {\n  in  text: str\n  out answer: str\n}\n\n'
        'module Say(text: str) -> (answer: str) {\n  let p = Predict(Echo)\n  return p(text: text)\n}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMP_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(ROOT / "src"),
               LMP_MODEL_DEFAULT="fake:[[ ## answer ## ]]\nhello\n\n[[ ## completed ## ]]")
    proc = subprocess.run([sys.executable, "-m", "lmp.cli.main", "run", "echo.lmp", "Say", "--json", "-i", "text=hi"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answer"] == "hello"
    assert sorted(p.name for p in work.iterdir()) == ["echo.lmp"]
    assert (tmp_path / "xdg" / "lmp" / "history.jsonl").is_file()
