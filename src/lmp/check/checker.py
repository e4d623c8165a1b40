"""Placeholder replaced by the real checker in the next commit."""

from __future__ import annotations

from lmp.diagnostics import Diagnostic
from lmp.ir.nodes import Program


def check_program(program: Program) -> list[Diagnostic]:
    return []
