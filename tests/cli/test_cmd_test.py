"""`lmp test`: table, exit codes, -k, --repeat, side-by-side models, --junit, --json (scripted models)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .cli_helpers import chat, run

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
  check category == "politics"
}
'''

WAR = "default=fake:" + chat(category="war")
POLITICS = "default=fake:" + chat(category="politics")


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    path = tmp_path / "prog.lmp"
    path.write_text(PROGRAM)
    return path


def test_all_pass_with_a_failed_soft_check_exits_0(capsys: pytest.CaptureFixture[str], prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(prog), "--model", WAR)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "prog.lmp"
    assert lines[1].split() == ["TEST", "STATUS", "OUTPUTS", "TOKENS", "LATENCY", "COST"]
    battle = next(ln for ln in lines if "M::battle" in ln)
    assert battle.split()[1:3] == ["pass", 'category="war"']
    assert '~ check category == "politics"' in out and '"war" == "politics" is false' in out and "(soft)" in out
    assert lines[-1].startswith("ok: 2 passed, 0 failed, 0 errors, 1 soft check(s) failed · LM calls: 2")


def test_failed_expect_exits_1_and_shows_both_sides(capsys: pytest.CaptureFixture[str], prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(prog), "--model", POLITICS)
    assert code == 1
    assert next(ln for ln in out.splitlines() if "M::battle" in ln).split()[1] == "FAIL"
    assert '✗ expect category == "war"  (prog.lmp:15): "politics" == "war" is false (`category` = "politics")' in out
    assert out.splitlines()[-1].startswith("failed: 1 passed, 1 failed, 0 errors")


def test_model_error_exits_1(capsys: pytest.CaptureFixture[str], prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(prog), "--model", "default=fake:not an answer", "-k", "battle")
    assert code == 1
    assert "ERROR" in out and "error: The model's answer could not be parsed into field `category`" in out
    assert "0 passed, 0 failed, 1 errors" in out


def test_k_filters_and_no_match_is_a_usage_error(capsys: pytest.CaptureFixture[str], prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(prog), "--model", WAR, "-k", "TREATY")
    assert code == 0 and "M::treaty" in out and "M::battle" not in out
    code, _, err = run(capsys, "test", str(prog), "--model", WAR, "-k", "nothing-matches")
    assert code == 2 and "no test blocks matching -k 'nothing-matches'" in err


def test_folder_is_searched_and_check_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(tmp_path), "--model", WAR)
    assert code == 0 and "M::battle" in out
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.lmp").write_text(PROGRAM.replace('expect category == "war"', 'expect categry == "war"'))
    code, out, _ = run(capsys, "test", str(tmp_path), "--model", WAR)
    assert code == 2
    assert "error[E145]: `categry` is not an output of `M`" in out and "did you mean `category`?" in out
    # A file without tests does not block the others, whatever its errors.
    (tmp_path / "sub" / "bad.lmp").write_text("module Broken( {\n")
    code, out, _ = run(capsys, "test", str(tmp_path), "--model", WAR)
    assert code == 0 and "M::battle" in out
    # A test block with a syntax error is reported, not skipped.
    (tmp_path / "sub" / "bad.lmp").write_text(PROGRAM.replace('expect category == "war"', 'expect category =='))
    code, out, _ = run(capsys, "test", str(tmp_path), "--model", WAR)
    assert code == 2 and "error[E001]" in out


def test_repeat_reports_a_pass_rate(capsys: pytest.CaptureFixture[str], prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(prog), "--model", WAR, "--repeat", "3", "-k", "battle")
    assert code == 0
    assert "pass 3/3" in out
    assert "3 passed" not in out and out.splitlines()[-1].startswith("ok: 1 passed")


def test_two_models_for_one_role_run_side_by_side(capsys: pytest.CaptureFixture[str], prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(prog), "--model", WAR, "--model", POLITICS)
    assert code == 1
    header = out.splitlines()[1]
    assert header.split()[0] == "TEST" and header.count("default=fake:") == 2
    battle = next(ln for ln in out.splitlines() if ln.strip().startswith("M::battle"))
    assert battle.split()[1] == "pass" and "FAIL" in battle
    detail = next(ln for ln in out.splitlines() if "✗ expect" in ln)
    assert detail.strip().startswith("[default=fake:[[ ## category ## ]] politics")
    assert detail.endswith('"politics" == "war" is false (`category` = "politics")')


def test_junit_is_valid(capsys: pytest.CaptureFixture[str], prog: Path, tmp_path: Path) -> None:
    xml_path = tmp_path / "junit.xml"
    code, _, _ = run(capsys, "test", str(prog), "--model", POLITICS, "--junit", str(xml_path))
    assert code == 1
    root = ET.parse(xml_path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    [suite] = root.findall("testsuite")
    # The attributes the common JUnit schema (junit-10.xsd) requires of a suite inside <testsuites>.
    for attr in ("name", "tests", "failures", "errors", "time", "timestamp", "hostname", "id", "package"):
        assert suite.get(attr) is not None, attr
    float(suite.get("time") or "x")
    assert [child.tag for child in suite] == ["properties", "testcase", "testcase", "system-out", "system-err"]
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["battle", "treaty"]
    assert all(c.get("classname") == "prog.M" and float(c.get("time") or "x") >= 0 for c in cases)
    failures = cases[0].findall("failure")
    assert len(failures) == 1 and list(cases[1]) == []
    assert failures[0].get("type") == "expect"
    assert failures[0].get("message", "").startswith('expect category == "war": "politics" == "war" is false')
    assert 'treaty: pass; outputs {"category": "politics"}' in (suite.findtext("system-out") or "")


def test_junit_marks_errors(capsys: pytest.CaptureFixture[str], prog: Path, tmp_path: Path) -> None:
    xml_path = tmp_path / "junit.xml"
    run(capsys, "test", str(prog), "--model", "default=fake:nope", "--junit", str(xml_path))
    suite = ET.parse(xml_path).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "2" and suite.get("failures") == "0"
    errors = [c.find("error") for c in suite.findall("testcase")]
    assert all(e is not None and e.get("type") == "error" and "could not be parsed" in (e.get("message") or "")
               for e in errors)


def test_json_output(capsys: pytest.CaptureFixture[str], prog: Path) -> None:
    code, out, _ = run(capsys, "test", str(prog), "--model", WAR, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["summary"] == {"pass": 2, "fail": 0, "error": 0, "cancelled": 0}
    battle = data["results"][0]
    assert battle["name"] == "battle" and battle["outputs"] == {"category": "war"}
    assert battle["expectations"][0]["span"]["line"] == 15
    assert battle["tokens"]["prompt"] > 0 and battle["calls"] == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, prog: Path) -> None:
    assert run(capsys, "test", str(tmp_path / "missing.lmp"))[0] == 2
    (tmp_path / "plain.lmp").write_text('signature S = "q -> a"\n')
    code, _, err = run(capsys, "test", str(tmp_path / "plain.lmp"))
    assert code == 2 and "no test blocks found" in err
    assert run(capsys, "test", str(prog), "--repeat", "0")[0] == 2
    assert run(capsys, "test", str(prog), "--model", "=x")[0] == 2
