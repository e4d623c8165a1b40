"""Shared checks: formatting keeps the IR (span-free) and the comments, and is idempotent."""

from __future__ import annotations

from lmp.fmt import format_source
from lmp.fmt.format import find_comments, ir_dump
from lmp.project import load_text


def program_dump(text: str) -> object:
    loaded = load_text(text, "/nonexistent/fmt_test.lmp", check=False)
    return ir_dump(loaded.program)


def assert_formats_safely(text: str) -> str:
    out = format_source(text)
    assert format_source(out) == out, "not idempotent"
    assert program_dump(out) == program_dump(text), "the IR changed"
    assert [c.text for c in find_comments(out)] == [c.text for c in find_comments(text.replace("\0", " "))]
    return out
