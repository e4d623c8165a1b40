"""Fixtures of the Spark tests: the shared session and fake server (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lmp.runtime import settings
from tests.spark.support import fake_server, spark_session, triage_answer


@pytest.fixture(scope="session")
def spark() -> Any:
    return spark_session()


@pytest.fixture
def fake(spark: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fake server, healthy; this process (the driver, and `lmp run` without Spark) reaches it too."""
    srv = fake_server()
    monkeypatch.setenv("LMP_API_BASE_DEFAULT", srv.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
    monkeypatch.delenv("LMP_MODEL_DEFAULT", raising=False)
    srv.fault = None
    srv.responder = triage_answer
    settings.reset()
    yield srv
    srv.fault = None
    srv.responder = triage_answer
    settings.reset()


def pytest_configure(config: pytest.Config) -> None:
    # pyspark 4.x warns on every pandas conversion when pandas is 3.x; the paths lmp uses are tested here.
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")
