"""The language tour (`../shared/language-tour.md`, the target language) is valid lmp as written:
its programs check clean, its example feeds a prompt preview, and the two mistakes it promises
to catch (a misspelled output field, a string that is not a member of an enum) are caught.

The tour belongs to the shared folder beside the repository ($LMP_SHARED_DIR, default ../shared), not to
the repository: on a clone with nothing beside it these tests skip; under LMP_CI=1 (.ci/run) they fail."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lmp.cli.main import main
from tests.tooling import missing

ROOT = Path(__file__).resolve().parents[2]
TOUR = Path(os.environ.get("LMP_SHARED_DIR") or ROOT.parent / "shared") / "language-tour.md"


@pytest.fixture
def tour(tmp_path: Path) -> Path:
    if not TOUR.is_file():
        missing(f"{TOUR} is absent (the tour lives in the shared folder beside the repository)",
                "put the shared folder at ../shared or set LMP_SHARED_DIR")
    # The tour's blocks build on each other (a later module uses an earlier tool), so they form one file.
    blocks = re.findall(r"```lmp\n(.*?)```", TOUR.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    path = tmp_path / "tour.lmp"
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def test_the_tour_checks_clean(tour, capsys):
    assert main(["check", str(tour)]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_the_tours_example_fills_the_preview(tour, capsys):
    assert main(["preview", str(tour), "ClassifyEvent"]) == 0
    out = capsys.readouterr().out
    assert "Classify historic events." in out
    assert "Battle of Nineveh" in out  # from `example ClassifyEvent { ... }`
    assert "between 0 and 1" in out  # the field description reaches the prompt


def test_the_mistakes_the_tour_promises_to_catch(tour, capsys):
    text = tour.read_text(encoding="utf-8")
    bad = text.replace("q.query, k: 3", "q.querry, k: 3").replace(
        '== "irrelevant_content" {', '== "irrelevant_contnet" {')
    assert bad.count("querry") == 1 and bad.count("contnet") == 1
    tour.write_text(bad, encoding="utf-8")
    assert main(["check", str(tour)]) == 1
    out = capsys.readouterr().out
    assert "error[E050]: `q` has no field `querry`" in out and "did you mean `query`?" in out
    assert 'error[E060]: "irrelevant_contnet" is not a member of `Tool`' in out
    assert 'did you mean "irrelevant_content"?' in out
