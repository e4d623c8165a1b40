"""Shared fixtures for the runtime tests: fixture programs, a scripted model, isolated settings."""

from __future__ import annotations

import os

import pytest

from lmp.runtime import settings
from lmp.runtime.lm import FakeLM, History


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own cache directory and default settings."""
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    for key in list(os.environ):
        if key.startswith("LMP_MODEL_"):
            monkeypatch.delenv(key)
    # A test that forgets to install a fake model must fail fast, not start the local model.
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "fake:NO MODEL CONFIGURED IN THIS TEST")
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def fake():
    """`fake(answers)` installs a FakeLM (with its own history) process-wide for this test.

    configure(), not context(): async tests run in another Context than fixture teardown, and
    the autouse fixture resets the settings anyway."""

    def make(answers=(), **kw) -> FakeLM:
        lm = FakeLM(answers, history=History(), **kw)
        settings.configure(lm=lm, history=lm.history)
        return lm

    return make
