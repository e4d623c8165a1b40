"""Fixtures for the CLI tests: an isolated cache and settings, and a typed program to run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmp.runtime import settings


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Own cache and history per test; no model configured, so a forgotten --model fails fast."""
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    for key in list(os.environ):
        if key.startswith("LMP_MODEL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "fake:NO MODEL CONFIGURED IN THIS TEST")
    monkeypatch.chdir(tmp_path)
    settings.reset()
    yield
    settings.reset()
