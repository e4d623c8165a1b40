"""The valid corpus checks clean; each invalid file states its expected diagnostics inline
(`# error: E040` / `# warning: W200` at the end of the offending line) and must match exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmp.project import load_program

HERE = Path(__file__).parent
VALID = sorted((HERE / "valid").rglob("*.lmp"))
INVALID = sorted((HERE / "invalid").glob("*.lmp"))
EXPECT = re.compile(r"#\s*(error|warning):\s*([EW]\d{3}(?:\s*,\s*[EW]\d{3})*)\s*$")


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(HERE)))
def test_valid_programs_check_clean(path: Path) -> None:
    loaded = load_program(path)
    assert [f"{d.span.line + 1}:{d.code} {d.message}" for d in loaded.diagnostics] == []


def expected_diagnostics(path: Path) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        m = EXPECT.search(line)
        if m:
            for code in m.group(2).split(","):
                out.add((lineno, code.strip()))
    return out


def actual_diagnostics(path: Path) -> set[tuple[int, str]]:
    """Diagnostics for `path`, from loading it and every sibling (an import cycle is reported
    in whichever file closes it, depending on where loading starts)."""
    target = str(path.resolve())
    out: set[tuple[int, str]] = set()
    for start in INVALID:
        for d in load_program(start).diagnostics:
            if d.path == target:
                out.add((d.span.line + 1, d.code))
    return out


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_programs_report_exactly_the_expected_diagnostics(path: Path) -> None:
    expected = expected_diagnostics(path)
    assert expected, f"{path.name} states no expectations"
    assert actual_diagnostics(path) == expected


def test_every_documented_code_is_exercised() -> None:
    """docs/diagnostics.md lists each code with examples; each code the checker emits is listed."""
    doc = (HERE.parents[1] / "docs" / "diagnostics.md").read_text()
    documented = set(re.findall(r"^## ([EW]\d{3})", doc, flags=re.MULTILINE))
    exercised = {code for p in INVALID for _, code in expected_diagnostics(p)}
    assert exercised <= documented, f"undocumented codes: {sorted(exercised - documented)}"
