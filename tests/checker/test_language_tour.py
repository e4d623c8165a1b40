"""The language tour (`../shared/language-tour.md`, the target language) is valid lmp as written:
its programs check clean, its example feeds a prompt preview, and the two mistakes it promises
to catch (a misspelled output field, a string that is not a member of an enum) are caught."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmp.cli.main import main

TOUR = Path(__file__).resolve().parents[3] / "shared" / "language-tour.md"

pytestmark = pytest.mark.skipif(not TOUR.exists(), reason=f"{TOUR} is not beside the project")


@pytest.fixture
def tour(tmp_path: Path) -> Path:
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
