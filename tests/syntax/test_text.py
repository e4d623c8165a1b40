"""What counts as source text (issue 14 item 12): a byte-order mark, line endings, NUL bytes."""

from __future__ import annotations

from lmp.project import load_text
from lmp.syntax import parse
from lmp.syntax.positions import Positions, line_starts

PROGRAM = 'signature S = "q -> a"\n\nmodule M(q: str) -> (a: str) {\n  let p = Predict(S)\n  return p(q: q)\n}\n'


def where(text: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line + 1, d.span.col + 1) for d in load_text(text, "/tmp/t.lmp").diagnostics]


def test_byte_order_mark_is_skipped_and_columns_do_not_move() -> None:
    assert where("\ufeff" + PROGRAM) == []
    # An error on the first line is at the column an editor shows (the mark is invisible there).
    bad = 'signature S = = "q -> a"\n'
    assert where("\ufeff" + bad) == where(bad) == [("E001", 1, 15)]
    # Offsets still index the text as given (the mark included).
    [diag] = load_text("\ufeff" + bad, "/tmp/t.lmp").diagnostics
    assert ("\ufeff" + bad)[diag.span.start] == "="


def test_lone_carriage_return_ends_a_line() -> None:
    cr = PROGRAM.replace("\n", "\r")
    assert where(cr) == []
    typo = PROGRAM.replace("return p(q: q)", "return p(q: qq)")
    expected = where(typo)
    assert expected == [("E030", 5, 15)]
    assert where(typo.replace("\n", "\r")) == expected
    assert where(typo.replace("\n", "\r\n")) == expected


def test_line_starts_count_every_kind_of_line_break() -> None:
    assert line_starts("a\rb\r\nc\nd") == [0, 2, 5, 7]
    pos = Positions("a\rb\r\nc\nd")
    assert [(pos.span_at(i, 0).line, pos.span_at(i, 0).col) for i in (0, 2, 5, 7)] == [(0, 0), (1, 0), (2, 0), (3, 0)]


def test_a_file_of_nul_bytes_is_not_a_valid_program() -> None:
    diags = parse("\x00" * 4096).diagnostics
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E001", 0, 0)]
    assert diags[0].message == "unexpected NUL character (4096 in this file)"
    assert "binary" in (diags[0].hint or "")


def test_nul_after_code_is_reported_where_it_is() -> None:
    assert where(PROGRAM.replace("  let p", "  \x00let p")) == [("E001", 4, 3)]


def test_nul_inside_a_comment_is_harmless() -> None:
    assert where("# a\x00b\n" + PROGRAM) == []
