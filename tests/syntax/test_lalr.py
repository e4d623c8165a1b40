"""The lean engine (lmp.syntax.lalr) against Lark on the same tables: same trees, errors and comments.

Recovery (lmp.syntax.parser) reads the errors' positions and expected sets, lowering reads the trees'
shapes and offsets, the formatter and the editor read the comments: any difference between the engines
would make `lmp check` and the language server disagree on the same text.
"""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmp.syntax import engine, lean_tables
from lmp.syntax.errors import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lmp.syntax.lalr import LeanParser
from lmp.syntax.newlines import mark_insignificant_newlines
from lmp.syntax.tree import Tree

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("examples/**/*.lmp"))


def shape(node: object) -> object:
    if type(node) is Tree:
        meta = node._meta
        offsets = None if meta is None or meta.empty else (meta.start_pos, meta.end_pos)
        return (str(node.data), offsets, [shape(c) for c in node.children])
    return (node.type, str(node.value), node.start_pos, node.end_pos)  # type: ignore[attr-defined]


def outcome(text: str, start: str, which: str, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setenv("LMP_PARSER_ENGINE", which)
    comments: list = []
    try:
        tree = engine.parse(text, start, comments)
    except UnexpectedToken as err:
        tok = err.token
        return ("token", tok.type, str(tok.value), tok.start_pos, tok.end_pos, sorted(err.expected))
    except UnexpectedCharacters as err:
        return ("characters", err.pos_in_stream, sorted(err.allowed))
    return ("tree", shape(tree), [(str(c.value), c.start_pos) for c in comments])


def same(text: str, monkeypatch: pytest.MonkeyPatch, start: str = "start") -> tuple:
    lean = outcome(text, start, "lean", monkeypatch)
    assert lean == outcome(text, start, "lark", monkeypatch)
    return lean


def mutations(text: str, rng: random.Random, n: int) -> list[str]:
    pieces = ["", "(", ")", "{", "}", "x", " = ", "\n", ":", "->", '"', '"""', "# c\n", "@", "module ", "in ",
              "[", ",", "\t", "\\\n", "1.5e3", "not "]
    out = []
    for _ in range(n):
        i = rng.randrange(len(text) + 1)
        j = min(len(text), i + rng.randrange(6))
        out.append(text[:i] + rng.choice(pieces) + text[j:])
    return out


def test_every_example_and_broken_copies_of_it(monkeypatch):
    rng = random.Random(15)
    kinds = set()
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        assert same(mark_insignificant_newlines(text), monkeypatch)[0] == "tree", path
        for broken in mutations(text, rng, 12):
            kinds.add(same(mark_insignificant_newlines(broken), monkeypatch)[0])
    assert kinds == {"tree", "token", "characters"}  # the error paths were compared too


def test_comments_and_offsets_come_out_of_the_lean_engine(monkeypatch):
    text = mark_insignificant_newlines('# top\nmodule M(q: str) -> (a: str) {\n  return (a: q)  # why\n}\n')
    kind, tree, comments = same(text, monkeypatch)
    assert comments == [("# top", 0), ("# why", text.index("# why"))]
    assert tree[0] == "start" and tree[1] == (6, len(text) - 1)


@pytest.mark.parametrize("spec", ["a, b: list[str] -> c: int", "q -> a", "x: int ->", "-> y", "a b c",
                                  'q: str -> answer: Literal["x", "y"]', ""])
def test_inline_signatures(spec, monkeypatch):
    same(spec, monkeypatch, start="sig_spec")


_SNIPPETS = ["module", "signature", "type", "in", "out", "let", "return", "if", "else", "for", "M", "x", "q",
             "(", ")", "{", "}", "[", "]", ":", ",", "->", "=", "+=", "==", ".", '"s"', '"""d"""', "1", "2.5",
             "true", "none", "and", "not", "str", "int", "list", "|", "?", "#c", "\n", "\n  ", " ", "@", "'"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_SNIPPETS), max_size=40))
def test_any_sequence_of_lmp_words(monkeypatch, words):
    same(mark_insignificant_newlines("".join(words)), monkeypatch)


def test_the_second_parse_collects_its_comments_too(monkeypatch):
    # Lark's lexers copy their callbacks when first used: a callback swapped in per parse served only the
    # first parse of the process, and every later file lost its comments (editor highlighting).
    text = mark_insignificant_newlines("# one\ntype T = str  # two\n")
    for which in ("lark", "lean"):
        monkeypatch.setenv("LMP_PARSER_ENGINE", which)
        for _ in range(3):
            comments: list = []
            engine.parse(text, "start", comments)
            assert [str(c.value) for c in comments] == ["# one", "# two"], which


def test_the_lean_engine_is_the_default_lark_on_request(monkeypatch):
    monkeypatch.delenv("LMP_PARSER_ENGINE", raising=False)
    assert engine._engine() == "lean"
    monkeypatch.setenv("LMP_PARSER_ENGINE", "lark")
    assert engine._engine() == "lark"


# ---------------------------------------------------------------- the cached tables


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LMP_PARSER_CACHE", raising=False)
    return tmp_path / "lmp" / "parser"


def _fresh_lean() -> LeanParser | None:
    engine.lean_parser.cache_clear()
    try:
        return engine.lean_parser()
    finally:
        engine.lean_parser.cache_clear()


def test_tables_are_exported_once_then_loaded(cache_home, monkeypatch):
    first = _fresh_lean()
    (path,) = cache_home.glob("lmp-lean-*.marshal")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lean_tables.load(engine.grammar_text()) is not None
    monkeypatch.setattr("lmp.syntax.engine._pure_lark", lambda: pytest.fail("exported again"))
    second = _fresh_lean()
    assert first is not None and second is not None
    text = mark_insignificant_newlines(EXAMPLES[0].read_text(encoding="utf-8"))
    assert shape(first.parse(text)) == shape(second.parse(text))


@pytest.mark.parametrize("damage", [b"", b"garbage", b"\xfb\x00\x00\x00"])
def test_a_damaged_table_file_is_exported_again(cache_home, damage):
    _fresh_lean()
    (path,) = cache_home.glob("lmp-lean-*.marshal")
    path.write_bytes(damage)
    assert lean_tables.load(engine.grammar_text()) is None
    assert _fresh_lean() is not None
    assert lean_tables.load(engine.grammar_text()) is not None  # replaced by a good one


def test_tables_of_another_grammar_are_not_used(cache_home):
    grammar = engine.grammar_text()
    _fresh_lean()
    (path,) = cache_home.glob("lmp-lean-*.marshal")
    edited = grammar + "\n// edited\n"
    os.replace(path, lean_tables.cache_path(edited))  # even under the edited grammar's own name
    assert lean_tables.load(edited) is None


def test_no_cache_folder_or_cache_off_still_parses(tmp_path, monkeypatch):
    (tmp_path / "lmp").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _fresh_lean() is not None
    monkeypatch.setenv("LMP_PARSER_CACHE", "0")
    assert lean_tables.cache_path(engine.grammar_text()) is None
    assert _fresh_lean() is not None


def test_errors_are_lmp_errors_whichever_engine(monkeypatch):
    for which in ("lean", "lark"):
        monkeypatch.setenv("LMP_PARSER_ENGINE", which)
        with pytest.raises(UnexpectedInput):
            engine.parse("module (", "start")


def test_a_fresh_check_of_a_small_file_does_not_import_lark(tmp_path):
    prog = tmp_path / "p.lmp"
    prog.write_text(EXAMPLES[0].read_text(encoding="utf-8"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT / "src")}
    env.pop("LMP_PARSER_ENGINE", None)
    code = ("import sys; from lmp.cli.main import main; code = main(['check', sys.argv[1]]); "
            "print(code, 'lark' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, str(prog)], env=env, capture_output=True, text=True,
                           timeout=120) for _ in range(2)]
    assert runs[0].stdout.strip().splitlines()[-1] == "0 True", runs[0].stderr  # exported the tables once
    assert runs[1].stdout.strip().splitlines()[-1] == "0 False", runs[1].stderr


def test_lexers_made_from_compiled_programs_equal_compiling_their_text(cache_home):
    from lmp.syntax.lalr import _compile, alternation

    lean = _fresh_lean()
    assert lean is not None and all(p is not None for p in lean._programs)  # this Python's `re` was read
    for (names, regexps, _, _), programs in zip(lean._specs, lean._programs, strict=True):
        made, compiled = _compile(names, regexps, programs), alternation(names, regexps)
        assert [(p.pattern, p.flags, p.groupindex) for p in made] == \
            [(p.pattern, p.flags, p.groupindex) for p in compiled]
        # a program CPython refuses (damaged) falls back to compiling the text
        broken = [(p[0], p[1], [99999] * 3, *p[3:]) for p in programs]
        assert [p.pattern for p in _compile(names, regexps, broken)] == [p.pattern for p in compiled]


def test_programs_of_another_regex_engine_are_not_used(cache_home, monkeypatch):
    import _sre

    _fresh_lean()
    monkeypatch.setattr(_sre, "MAGIC", _sre.MAGIC + 1)
    lean = _fresh_lean()
    assert lean is not None and all(p is None for p in lean._programs)
    text = mark_insignificant_newlines(EXAMPLES[0].read_text(encoding="utf-8"))
    assert shape(lean.parse(text))[0] == "start"


def test_when_the_tables_cannot_be_exported_lark_parses(cache_home, monkeypatch):
    # e.g. a Lark release whose internals moved: slower, never broken
    def broken(*_: object) -> dict:
        raise AttributeError("'LALR_Parser' object has no attribute '_parse_table'")

    monkeypatch.setattr("lmp.syntax.lalr_export.export", broken)
    monkeypatch.delenv("LMP_PARSER_ENGINE", raising=False)
    engine.lean_parser.cache_clear()
    try:
        tree = engine.parse(mark_insignificant_newlines(EXAMPLES[0].read_text(encoding="utf-8")))
        assert engine.lean_parser() is None and tree.data == "start"
    finally:
        engine.lean_parser.cache_clear()
