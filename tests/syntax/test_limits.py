"""Large files (issue 14 item 11): a documented size limit, and memory bounded by the file's size."""

from __future__ import annotations

import tracemalloc

from lmp.syntax import MAX_FILE_BYTES, parse, size_error
from lmp.syntax.newlines import mark_insignificant_newlines


def test_limit_is_shared_and_the_message_names_both_sizes() -> None:
    assert MAX_FILE_BYTES == 1_000_000
    assert size_error(MAX_FILE_BYTES) is None
    assert size_error(2_500_000) == "file too large (2.5 MB; the limit is 1 MB)"
    [diag] = parse("#" * (MAX_FILE_BYTES + 1)).diagnostics
    assert diag.code == "E002"
    assert diag.message == "file too large (1.0 MB; the limit is 1 MB)"


def peak_mb(fn: object, *args: object) -> float:
    tracemalloc.start()
    try:
        fn(*args)  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_a_long_string_literal_costs_a_few_copies_of_itself() -> None:
    # The string patterns kept one backtracking frame per character: 1.4 GB for 4.9 MB before.
    body = "a" * 900_000
    text = f'signature S = "q -> a"\nmodule M(q: str) -> (a: str) {{\n  x = "{body}"\n  return (a: x)\n}}\n'
    assert peak_mb(mark_insignificant_newlines, text) < 10
    assert peak_mb(parse, text) < 20
    escapes = "\\n" * 450_000
    assert peak_mb(parse, text.replace(body, escapes)) < 20


def test_a_long_docstring_too() -> None:
    body = "word " * 180_000
    text = f'signature S {{\n  """{body}"""\n  in q: str\n  out a: str\n}}\n'
    assert parse(text).diagnostics == []
    assert peak_mb(parse, text) < 20
