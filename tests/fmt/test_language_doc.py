"""Every ```lmp block of docs/language.md checks clean, and is already in canonical layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmp.fmt import format_source
from lmp.project import load_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"
BLOCKS = re.findall(r"```lmp\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL) if DOC.exists() else []


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_example_checks_clean(source: str) -> None:
    loaded = load_text(source, "/docs/example.lmp")
    errors = [f"{d.span.line + 1}: {d.code} {d.message}" for d in loaded.errors]
    assert not errors, errors


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_example_is_formatted(source: str) -> None:
    assert format_source(source) == source


def test_doc_has_examples() -> None:
    assert len(BLOCKS) >= 10
