"""Helpers shared by the runtime tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmp.project import load_program

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runtime"


def load(name: str):
    loaded = load_program(FIXTURES / name)
    assert not loaded.errors, loaded.errors
    return loaded.program


def chat(**fields: object) -> str:
    """A well-formed chat-adapter answer."""
    parts = [f"[[ ## {k} ## ]]\n{v}\n" for k, v in fields.items()]
    return "\n".join(parts) + "\n[[ ## completed ## ]]"


class Host:
    """The interpreter's side of a predictor, for tests that drive a PredictorRuntime directly: every
    role answers with `lm`, there are no tools, and every reward metric scores 1."""

    def __init__(self, lm: Any) -> None:
        self.lm = lm

    def lm_for(self, role: str | None) -> Any:
        return self.lm

    def tool_specs(self, names: list[str]) -> list[Any]:
        return []

    def call_metric(self, name: str, example: Any, pred: Any) -> float:
        return 1.0
