"""Fixtures for the optimizer tests: isolated settings and the toy task's scripted models."""

from __future__ import annotations

import os

import pytest

from lmp.runtime import settings


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    for key in list(os.environ):
        if key.startswith("LMP_MODEL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "fake:NO MODEL CONFIGURED IN THIS TEST")
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def models():
    """Installs the toy task model (all roles) and the prompt model (role `prompt`); returns both."""
    from tests.optimize import toy

    task = toy.task_lm()
    prompt = toy.prompt_lm(task.history)
    settings.configure(lm=task, history=task.history, lms={"prompt": prompt})
    return task, prompt
