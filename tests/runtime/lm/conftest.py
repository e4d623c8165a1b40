"""Fixtures for the model-layer tests: isolated cache dirs and a loopback fake server."""

from __future__ import annotations

import pytest

from lmp.runtime.lm.fake_server import FakeServer


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path, monkeypatch):
    # No test may write .lmp_cache/ into the repository or read a developer's env overrides.
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "lmp_cache"))
    for var in ("LMP_LOCAL_URL", "LMP_LOCAL_GGUF", "LMP_LOCAL_MODEL_TYPE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake_server():
    with FakeServer() as server:
        yield server
