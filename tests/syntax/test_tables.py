"""The built parser is cached on disk (lmp.syntax.tables): same parser, robust to a damaged cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lark import Lark

from lmp.syntax import tables
from lmp.syntax.engine import grammar_text
from lmp.syntax.parser import mark_insignificant_newlines

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = 'type C = "a" | "b"\nsignature S {\n  in  x: str\n  out y: C\n}\nmodule M(x: str) -> (y: C) {\n' \
         '  let p = Predict(S)\n  return p(x: x)\n}\n'
OPTIONS = {"parser": "lalr", "lexer": "contextual", "propagate_positions": True, "maybe_placeholders": False,
           "start": ["start", "sig_spec"]}


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LMP_PARSER_CACHE", raising=False)
    return tmp_path / "lmp" / "parser"


def _grammar() -> str:
    return grammar_text()


def _parse(lark) -> object:
    return lark.parse(mark_insignificant_newlines(SAMPLE), start="start")


def test_built_once_then_loaded_and_same_trees(cache_home):
    first = tables.load_or_build(_grammar(), OPTIONS)
    files = list(cache_home.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pickle"
    loaded = tables._load(files[0], tables.cache_key(_grammar(), OPTIONS), OPTIONS)
    assert loaded is not None
    assert _parse(loaded) == _parse(first)
    assert loaded.get_terminal("NAME").pattern.value == first.get_terminal("NAME").pattern.value


def test_another_grammar_or_lark_version_is_another_key():
    g = _grammar()
    assert tables.cache_key(g, OPTIONS) != tables.cache_key(g + "\n// edited\n", OPTIONS)
    assert tables.cache_key(g, OPTIONS) != tables.cache_key(g, {**OPTIONS, "lexer": "basic"})


@pytest.mark.parametrize("damage", [b"", b"garbage\n", None])
def test_a_damaged_cache_file_is_rebuilt(cache_home, damage):
    tables.load_or_build(_grammar(), OPTIONS)
    (path,) = cache_home.iterdir()
    key = tables.cache_key(_grammar(), OPTIONS)
    # truncated, foreign, or the right header followed by a broken pickle
    path.write_bytes(damage if damage is not None else key.encode() + b"\n\x80\x05broken")
    assert tables._load(path, key, OPTIONS) is None
    lark = tables.load_or_build(_grammar(), OPTIONS)
    assert _parse(lark) == _parse(Lark(_grammar(), **OPTIONS))
    assert tables._load(path, key, OPTIONS) is not None  # replaced by a good one


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_cache_folder_just_builds(cache_home):
    cache_home.mkdir(parents=True)
    cache_home.chmod(0o500)
    try:
        lark = tables.load_or_build(_grammar(), OPTIONS)
        assert _parse(lark) == _parse(Lark(_grammar(), **OPTIONS))
        assert list(cache_home.iterdir()) == []
    finally:
        cache_home.chmod(0o700)


def test_cache_folder_that_is_a_file_just_builds(tmp_path, monkeypatch):
    (tmp_path / "lmp").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    lark = tables.load_or_build(_grammar(), OPTIONS)
    assert _parse(lark) == _parse(Lark(_grammar(), **OPTIONS))


def test_check_in_a_fresh_process_uses_the_cache(tmp_path):
    prog = tmp_path / "p.lmp"
    prog.write_text(SAMPLE)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT / "src")}
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "lmp.cli.main", "check", str(prog)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "0 error(s)" in proc.stdout
    # The first run exported the lean engine's tables from Lark's (lmp.syntax.lean_tables)
    assert len(list((tmp_path / "xdg" / "lmp" / "parser").glob("lmp-lean-*.marshal"))) == 1
    # `lmp check` of a small file imports none of the run-time stack, nor Lark (the lean engine parses it),
    # nor tomllib (only for a program with imports)
    code = ("import sys; from lmp.cli.main import main; main(['check', sys.argv[1]]); "
            "print(sorted(m for m in ('lark', 'regex', 'tomllib', 'litellm', 'pydantic', 'httpx', 'openai', "
            "'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(prog)], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
