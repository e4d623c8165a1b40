"""Fixtures for the deploy tests: isolated settings, small programs, a server on a loopback port."""

from __future__ import annotations

import io
import json
import os
import time

import pytest

from lmp.runtime import settings

CLASSIFY_ANSWER = ("[[ ## category ## ]]\nWars and Conflicts\n\n[[ ## confidence ## ]]\n0.9\n\n"
                   "[[ ## completed ## ]]")

# Exercises the request/response models: a record, a list, an optional and a defaulted parameter.
TYPES_PROGRAM = '''\
type Level = "low" | "high"
type Doc = {
  title: str
  year: int
  tags: list[str]
  note: str?
}

signature Judge {
  """Judge a document."""
  in  doc: Doc
  in  level: Level
  in  weight: float
  out verdict: Level
  out score: float
}

module Review(doc: Doc, level: Level = "low", weight: float = 1.0, strict: bool?) -> (verdict: Level, score: float) {
  let judge = Predict(Judge)
  return judge(doc: doc, level: level, weight: weight)
}
'''

REVIEW_ANSWER = "[[ ## verdict ## ]]\nhigh\n\n[[ ## score ## ]]\n0.5\n\n[[ ## completed ## ]]"

CLASSIFY = os.path.join(os.path.dirname(__file__), "..", "fixtures", "runtime", "classify.lmp")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    for key in list(os.environ):
        if key.startswith(("LMP_MODEL_", "LMP_API_BASE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "fake:NO MODEL CONFIGURED IN THIS TEST")
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def classify_path():
    return os.path.abspath(CLASSIFY)


@pytest.fixture
def review_path(tmp_path):
    p = tmp_path / "review.lmp"
    p.write_text(TYPES_PROGRAM)
    return str(p)


class Running:
    def __init__(self, bg, log: io.StringIO) -> None:
        self.bg = bg
        self.url = bg.url
        self.server = bg.server
        self._log = log

    def logs(self, event: str | None = None) -> list[dict]:
        lines = [json.loads(line) for line in self._log.getvalue().splitlines() if line.strip()]
        return [r for r in lines if event is None or r["event"] == event]

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.server.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture
def serve():
    """`serve(path, answers=..., **options)` runs an LmpServer on 127.0.0.1:<free port> with a FakeLM
    whose calls are metered by the server's history."""
    from lmp.api import load
    from lmp.deploy.server import BackgroundServer, JsonLog, LmpServer, MeteringHistory, ServeOptions
    from lmp.runtime.lm import FakeLM

    started = []

    def make(path, answers=(), *, default=None, state=None, warmup=None, wait_ready=True, **options):
        history = MeteringHistory(max_records=100)
        lm = FakeLM(answers, default=default, history=history)
        settings.configure(lm=lm, history=history)
        handle = load(path, state=state)
        log = io.StringIO()
        server = LmpServer(handle, ServeOptions(cache=False, **options), log=JsonLog(log), history=history,
                           warmup=warmup)
        bg = BackgroundServer(server).start(wait_ready=wait_ready)
        started.append(bg)
        return Running(bg, log)

    yield make
    for bg in started:
        bg.stop()
