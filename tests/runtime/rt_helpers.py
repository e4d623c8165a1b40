"""Helpers shared by the runtime tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

from pathlib import Path

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
