"""The embedded server's thread count follows the machine's load (bench/local_threads.py measured
that 2 threads on 2 busy cores are twice as slow as 1), and LMP_LOCAL_THREADS overrides it."""

from __future__ import annotations

import pytest

from lmp.runtime.lm.base import LMError
from lmp.runtime.lm.local import LocalServer, configured_threads, default_threads


@pytest.mark.parametrize(("cpus", "load", "threads"), [
    (2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 2.0, 1), (2, 9.0, 1), (8, 3.2, 5), (1, 0.0, 1),
])
def test_default_threads_leave_busy_cores_alone(cpus, load, threads):
    assert default_threads(cpus, load) == threads


def test_the_environment_variable_wins(monkeypatch):
    monkeypatch.setenv("LMP_LOCAL_THREADS", "3")
    assert configured_threads() == 3
    assert LocalServer().n_threads == 3
    monkeypatch.delenv("LMP_LOCAL_THREADS")
    assert 1 <= LocalServer().n_threads


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_a_bad_thread_count_is_named(monkeypatch, raw):
    monkeypatch.setenv("LMP_LOCAL_THREADS", raw)
    with pytest.raises(LMError, match="LMP_LOCAL_THREADS"):
        LocalServer()
