"""Built-in functions: the checker's table and the interpreter's agree, and each one works."""

from __future__ import annotations

import pytest

import lmp
from lmp.ir.builtins import BUILTINS as TYPED
from lmp.runtime.builtins import BUILTINS as IMPLEMENTED
from lmp.runtime.interpreter import Interpreter


def test_every_typed_builtin_is_implemented_and_vice_versa():
    # A name known to only one side is a program that checks clean and then fails, or the reverse.
    assert sorted(TYPED) == sorted(IMPLEMENTED)


PROGRAM = '''
module Calc(xs: list[int], passages: list[str], parts: list[list[str]], d: dict[str, int]) -> (
    smallest: int, largest: int, total: int, magnitude: int, rounded: int, fine: float,
    distinct: list[str], flat: list[str], names: list[str], biggest_of: float) {
  return (smallest: min(xs), largest: max(xs), total: sum(xs), magnitude: abs(min(xs)),
          rounded: round(2.6), fine: round(2.345, 2), distinct: unique(passages), flat: concat(parts),
          names: keys(d), biggest_of: max(1, 2.5))
}
'''


def test_builtins_run_and_check_clean(tmp_path):
    path = tmp_path / "calc.lmp"
    path.write_text(PROGRAM)
    assert [d for d in lmp.check(path) if d.severity == "error"] == []
    out = Interpreter(lmp.load(path).program).run(
        "Calc", xs=[3, -7, 5], passages=["a", "b", "a", "c", "b"], parts=[["x"], [], ["y", "z"]], d={"k": 1, "j": 2}
    )
    assert out.model_dump() == {
        "smallest": -7, "largest": 5, "total": 1, "magnitude": 7, "rounded": 3, "fine": 2.35,
        "distinct": ["a", "b", "c"], "flat": ["x", "y", "z"], "names": ["k", "j"], "biggest_of": 2.5,
    }


@pytest.mark.parametrize(
    ("expr", "code"),
    [("round()", "E092"), ("sum(1, 2)", "E092"), ("unique()", "E092")],
)
def test_wrong_arity_is_a_checker_error(tmp_path, expr, code):
    path = tmp_path / "bad.lmp"
    path.write_text(f"module M(x: int) -> (y: str) {{\n  z = {expr}\n  return (y: str(z))\n}}\n")
    assert code in [d.code for d in lmp.check(path)]


def test_editor_grammars_highlight_exactly_the_builtins():
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    # str/int/float/bool are highlighted as the type names they also are; bm25 is the built-in retriever,
    # mcp the tool-server declaration's.
    expected = sorted({*TYPED, "bm25", "mcp"} - {"str", "int", "float", "bool"})
    vim = (root / "editors/vim/syntax/lmp.vim").read_text()
    vim_names = re.search(r'lmpBuiltinFunc "\\<\\\((.*?)\\\)', vim).group(1).split("\\|")
    assert sorted(vim_names) == expected
    grammar = json.dumps(json.loads((root / "editors/vscode/syntaxes/lmp.tmLanguage.json").read_text()))
    vscode_names = re.search(r"\\\\b\((range\|[^)]*)\)", grammar).group(1).split("|")
    assert sorted(vscode_names) == expected
