"""`lmp run -i field=value`: values are read by their declared type, never guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.cli_helpers import TYPED, chat, run

GOOD = {"items": '["a", "b"]', "n": "3", "f": ".5", "ok": "true", "color": "red", "pt": '{"x": 1, "y": 2}',
        "question": "Why?"}


def _args(tmp_path: Path, **override: str) -> list[str]:
    prog = tmp_path / "typed.lmp"
    prog.write_text(TYPED)
    values = {**GOOD, **override}
    out = ["run", str(prog), "--model", "fake:" + chat(answer="ok"), "--trace"]
    for k, v in values.items():
        out += ["-i", f"{k}={v}"]
    return out


def test_good_values_reach_the_prompt_typed(tmp_path, capsys):
    code, out, err = run(capsys, *_args(tmp_path))
    assert code == 0 and out == "answer: ok\n"
    assert "[1] a\n" in err.replace("    ", "") and '"x": 1' in err


@pytest.mark.parametrize(("field", "raw", "expected"), [
    ("items", '["a"', "-i items: expected list[str] as JSON, e.g. -i items='[\"text\"]'; got '[\"a\"', which is not "
                      "valid JSON"),
    ("items", "a,b", "-i items: expected list[str] as JSON"),
    ("items", "[1]", "-i items: '[1]' does not match list[str]: items[0]: expected str, got an int 1"),
    ("n", "1.5", "-i n: expected int (a whole number, e.g. 3), got '1.5'"),
    ("n", "3x", "-i n: expected int"),
    ("f", "nan", "-i f: expected float (a number, e.g. 0.5), got 'nan'"),
    ("ok", "yes", "-i ok: expected bool (true or false), got 'yes'"),
    ("color", "rde", "-i color: 'rde' is not Color: one of \"red\" | \"green\" (did you mean `red`?)"),
    ("pt", '{"x": 1}', "pt.y: missing (int)"),
    ("pt", '{"x": 1, "y": 2, "z": 3}', "pt: unknown key `z`; Pt has x, y"),
    ("pt", '{"x": "1", "y": 2}', "pt.x: expected int, got a string \"1\""),
])
def test_a_value_that_does_not_fit_its_type_is_a_usage_error(tmp_path, capsys, field, raw, expected):
    code, out, err = run(capsys, *_args(tmp_path, **{field: raw}))
    assert code == 2 and out == ""
    assert err.startswith("lmp run: ") and expected in err, err


def test_misspelled_input_name_suggests_the_right_one(tmp_path, capsys):
    args = _args(tmp_path)
    args[args.index("question=Why?")] = "questoin=Why?"
    code, _, err = run(capsys, *args)
    assert code == 2
    assert "-i questoin: no input `questoin` (did you mean `question`?); M has items: list[str]" in err


def test_preview_reads_inputs_by_type_too(tmp_path, capsys):
    prog = tmp_path / "typed.lmp"
    prog.write_text(TYPED)
    code, _, err = run(capsys, "preview", str(prog), "M.p", "-i", "items=a,b")
    assert code == 2 and "-i items: expected list[str] as JSON" in err
    code, out, _ = run(capsys, "preview", str(prog), "M.p", "-i", 'items=["a,b"]', "--json")
    assert code == 0 and "[1] a,b" in json.dumps(json.loads(out)["messages"])


def test_run_on_a_folder_lists_its_programs(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "typed.lmp").write_text(TYPED)
    (tmp_path / "types_only.lmp").write_text('type Color = "red" | "green"\n')
    for command in (["run"], ["eval", "--dev", "d.jsonl", "--metric", "exact_match"]):
        code, _, err = run(capsys, command[0], str(tmp_path), *command[1:])
        assert code == 2
        assert f"lmp {command[0]}: {tmp_path} is a folder: lmp {command[0]} takes one .lmp file" in err
        assert "sub/typed.lmp  (M)" in err and "types_only" not in err
