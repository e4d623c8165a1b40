"""Fixtures for the optimizer tests: isolated settings and the toy task's scripted models."""

from __future__ import annotations

import pytest

from lmp.runtime import settings
from tests.runtime.conftest import isolated  # noqa: F401 - the same autouse isolation as the runtime tests


@pytest.fixture
def models():
    """Installs the toy task model (all roles) and the prompt model (role `prompt`); returns both."""
    from tests.optimize import toy

    task = toy.task_lm()
    prompt = toy.prompt_lm(task.history)
    settings.configure(lm=task, history=task.history, lms={"prompt": prompt})
    return task, prompt
