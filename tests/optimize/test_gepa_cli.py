"""`lmp optimize --optimizer gepa` with --budget forms and --objective."""

from __future__ import annotations

import json

from tests.cli.cli_helpers import run
from tests.optimize import gepa_task
from tests.optimize.test_gepa import fake  # noqa: F401 - the fixture


def _args(tmp_path, *extra: str) -> list[str]:
    train, dev = gepa_task.datasets(tmp_path)
    return ["optimize", str(gepa_task.FIXTURE), "--train", train, "--dev", dev, "--metric", "graded",
            "--concurrency", "1", "-o", str(tmp_path / "s.json"), *extra]


def test_gepa_from_the_command_line_with_a_token_and_call_budget(tmp_path, fake, capsys):  # noqa: F811
    code, out, err = run(capsys, *_args(tmp_path, "--optimizer", "gepa", "--budget", "calls=60,tokens=5000"))
    assert code == 0, err
    assert "budget 60 calls, 5000 tokens" in err
    assert "gepa: reflection on the `reflect` role (fake-reflect)" in err
    assert "accepted: minibatch 0 -> 3, dev 1.000" in err
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["optimizer"]["name"] == "gepa" and data["scores"]["dev_after"] == 1.0
    assert data["cost"]["calls"] <= 60 and data["cost"]["tokens"] <= 5000
    assert data["lineage"]["chosen"] == 1


def test_presets_and_objectives_are_for_gepa_and_mipro(tmp_path, fake, capsys):  # noqa: F811
    code, _, err = run(capsys, *_args(tmp_path, "--optimizer", "copro", "--budget", "light"))
    assert code == 2 and "--budget light is a preset of gepa and mipro" in err
    code, _, err = run(capsys, *_args(tmp_path, "--optimizer", "bootstrap", "--objective", "accuracy=1"))
    assert code == 2 and "--objective is for gepa and mipro, not bootstrap" in err
    code, _, err = run(capsys, *_args(tmp_path, "--optimizer", "gepa", "--budget", "plenty"))
    assert code == 2 and "--budget: cannot read 'plenty'" in err
    code, _, err = run(capsys, *_args(tmp_path, "--optimizer", "gepa", "--objective", "accuracy"))
    assert code == 2 and "NAME=WEIGHT" in err


def test_a_preset_sets_auto(tmp_path, fake, capsys):  # noqa: F811
    code, _, err = run(capsys, *_args(tmp_path, "--optimizer", "gepa", "--budget", "light"))
    assert code == 0, err
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["optimizer"]["settings"]["auto"] == "light"
