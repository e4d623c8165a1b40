"""`--dev tests`: test blocks as the dev set of `lmp eval` / `lmp optimize`."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmp.cli.main import main
from lmp.optimize.data import DatasetError
from lmp.optimize.tests_dev import examples_from_tests
from lmp.project import load_text

PROGRAM = '''type Label = "war" | "politics"

signature Classify {
  in  event: str
  out category: Label
}

module M(event: str) -> (category: Label) {
  let c = Predict(Classify)
  return c(event: event)
}

test battle for M {
  event: "Battle of Nineveh"
  expect category == "war"
}

test treaty for M {
  event: "Treaty of Westphalia"
  expect category in ["war", "politics"]
  check "politics" == result.category
}

test shape for M {
  event: "Something"
  expect category in ["war", "politics"]
}

test sig for Classify {
  event: "Other target"
  expect category == "war"
}
'''


def test_examples_from_tests_take_inputs_and_equality_labels() -> None:
    program = load_text(PROGRAM, "/tmp/dev.lmp").program
    examples = examples_from_tests(program, "M")
    assert [(e.inputs, e.gold) for e in examples] == [
        ({"event": "Battle of Nineveh"}, {"category": "war"}),
        ({"event": "Treaty of Westphalia"}, {"category": "politics"}),
        ({"event": "Something"}, {}),
    ]
    assert examples[0].where == "/tmp/dev.lmp:13 (test battle)"
    with pytest.raises(DatasetError, match=r"dev.lmp:24 \(test shape\): no gold output"):
        examples_from_tests(program, "M", require_gold=True)
    with pytest.raises(DatasetError, match="has no test block for `Nope`"):
        examples_from_tests(program, "Nope")


def test_lmp_eval_dev_tests(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "dev.lmp"
    path.write_text(PROGRAM.replace('test shape for M {\n  event: "Something"\n  expect category in ["war", "politics"]\n}\n', ""))
    answer = "[[ ## category ## ]]\nwar\n\n[[ ## completed ## ]]"
    code = main(["eval", str(path), "M", "--dev", "tests", "--metric", "exact_match", "--model", "fake:" + answer])
    out = capsys.readouterr().out
    assert code == 0
    assert "exact_match: 0.500" in out and "n=2" in out


def test_test_blocks_do_not_change_the_program_hash() -> None:
    """A state file stays "made for this program" when tests are added, edited or removed."""
    from lmp.optimize.state import program_hash

    plain = PROGRAM.split("test battle")[0].rstrip("\n") + "\n"
    with_tests = plain + '\n# Tests (a comment that introduces them)\n' + PROGRAM[PROGRAM.index("test battle"):]
    a = program_hash(load_text(plain, "/tmp/h.lmp").program)
    assert a == program_hash(load_text(with_tests, "/tmp/h.lmp").program)
    assert a == program_hash(load_text(with_tests.replace('"Battle of Nineveh"', '"Other"'), "/tmp/h.lmp").program)
    # Anything else still changes it.
    assert a != program_hash(load_text(plain.replace("in  event", "in event2"), "/tmp/h.lmp").program)
