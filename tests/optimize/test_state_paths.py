"""State files name files (the program, an ensemble's member states) relative to themselves, so a program
moved or cloned together with its state still works; absolute paths from older state files still load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lmp.optimize.state import State, load_state

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SHIPPED = sorted(EXAMPLES.rglob("*.state.json"))


def _paths_in(data: dict) -> list[str]:
    return [data["program"]["path"], *(data["optimizer"]["settings"].get("members") or [])]


def test_save_writes_paths_relative_to_the_state_file_and_load_resolves_them(tmp_path):
    program = tmp_path / "prog" / "p.lmp"
    members = [str(tmp_path / "out" / "m1.state.json"), str(tmp_path / "prog" / "m2.state.json")]
    state = State(program_path=str(program), program_hash="sha256:" + "0" * 64, optimizer="ensemble", module="M",
                  settings={"members": members, "size": 2})
    target = tmp_path / "out" / "p.state.json"
    state.save(target)
    data = json.loads(target.read_text())
    assert data["program"]["path"] == "../prog/p.lmp"
    assert data["optimizer"]["settings"]["members"] == ["m1.state.json", "../prog/m2.state.json"]
    assert data["optimizer"]["settings"]["size"] == 2
    loaded = load_state(target)
    assert loaded.program_path == str(program)
    assert loaded.settings["members"] == members


def test_absolute_paths_from_older_state_files_still_load(tmp_path):
    data = json.loads((EXAMPLES / "classify" / "classify.state.json").read_text())
    data["program"]["path"] = "/somewhere/else/classify.lmp"
    old = tmp_path / "old.state.json"
    old.write_text(json.dumps(data))
    assert load_state(old).program_path == "/somewhere/else/classify.lmp"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_shipped_state_files_name_files_relative_to_themselves(path: Path):
    data = json.loads(path.read_text())
    for named in _paths_in(data):
        assert not os.path.isabs(named), f"{path.relative_to(ROOT)} names an absolute path: {named}"
        assert (path.parent / named).is_file(), f"{path.relative_to(ROOT)} names {named}, which is not there"


def _copy_examples(tmp_path: Path) -> Path:
    # The ensemble imports ../classify/classify.lmp: the two folders move together, into a project of the
    # user's (imports stay inside the folder holding pyproject.toml).
    project = tmp_path / "elsewhere"
    dest = project / "examples"
    for name in ("classify", "ensemble"):
        shutil.copytree(EXAMPLES / name, dest / name)
    (project / "pyproject.toml").write_text('[project]\nname = "mine"\nversion = "0"\n')
    return dest


def test_a_copied_example_loads_its_state_from_the_new_place(tmp_path):
    import lmp

    dest = _copy_examples(tmp_path)
    state = load_state(dest / "ensemble" / "ensemble.state.json")
    assert state.program_path == str(dest / "ensemble" / "ensemble.lmp")
    assert state.settings["members"] == [str(dest / "ensemble" / f"member{i}.state.json") for i in (1, 2, 3)]
    for member in state.settings["members"]:
        assert load_state(member).program_path == state.program_path
    prog = lmp.load(dest / "ensemble" / "ensemble.lmp", state=dest / "ensemble" / "ensemble.state.json")
    assert len(prog.predictors["EventVote.classify"].demos) > 0


def test_a_copied_ensemble_example_runs_there(tmp_path):
    dest = _copy_examples(tmp_path)
    answer = "[[ ## category ## ]]\nSports and Games\n\n[[ ## completed ## ]]"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMP_MODEL_")}
    env.update(LMP_CACHE_DIR=str(tmp_path / "cache"), LMP_MODEL_DEFAULT=f"fake:{answer}")
    proc = subprocess.run(
        [sys.executable, "-m", "lmp.cli.main", "run", "ensemble/ensemble.lmp", "EventVote", "--json",
         "-i", "event=The first modern Olympic Games open in Athens in 1896."],
        cwd=dest, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["category"] == "Sports and Games"
