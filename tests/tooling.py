"""What a test does when something outside the repository is missing.

`python -m pytest` on a fresh clone must pass with nothing installed beside lmp itself, so a test that needs
external tooling (neovim, chromium, editors/vscode's node_modules, code-server, ../shared) skips with the reason
and the remedy. CI installs that tooling first (`.ci/run`) and sets LMP_CI=1: there a missing tool means the
install went wrong, and hiding it behind a skip would let CI pass without running the editor suite.
"""

from __future__ import annotations

import os

import pytest

STRICT_VAR = "LMP_CI"


def strict() -> bool:
    return os.environ.get(STRICT_VAR, "") not in ("", "0")


def missing(what: str, remedy: str) -> None:
    """Skip (or, under LMP_CI=1, fail) because `what` is absent; `remedy` says how to get it."""
    message = f"{what}: {remedy}"
    if strict():
        pytest.fail(f"{message} ({STRICT_VAR}=1 is set: CI provides this, so its absence is a failure, not a skip)", pytrace=False)
    pytest.skip(message)
