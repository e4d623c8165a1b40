"""`lmp diff-state`: score changes in points, counts as plain differences."""

from __future__ import annotations

import json
import shutil

from tests.cli.cli_helpers import ROOT, run

CLASSIFY = ROOT / "examples" / "classify"


def test_only_scores_get_point_deltas(tmp_path, capsys):
    shutil.copy(CLASSIFY / "classify.lmp", tmp_path / "classify.lmp")
    data = json.loads((CLASSIFY / "classify.state.json").read_text())
    data["program"]["path"] = "classify.lmp"
    a = tmp_path / "a.state.json"
    a.write_text(json.dumps({**data, "scores": {**data["scores"], "dev_size": 4, "dev_after": 0.5, "trials": 3}}))
    b = tmp_path / "b.state.json"
    b.write_text(json.dumps({**data, "scores": {**data["scores"], "dev_size": 6, "dev_after": 0.75, "trials": 5}}))
    code, out, _ = run(capsys, "diff-state", str(a), str(b))
    assert code == 0
    assert "  dev_after: 0.500 -> 0.750 (+25.0pt)" in out
    assert "  dev_size: 4 -> 6 (+2)" in out and "  trials: 3 -> 5 (+2)" in out
    assert "pt)" not in out.split("dev_size")[1].splitlines()[0]
