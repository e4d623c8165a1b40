"""Formatting `test` blocks: canonical layout, comments kept, idempotent."""

from __future__ import annotations

from lmp.fmt import format_source

from .helpers import assert_formats_safely

MESSY = '''signature S {
  in q: str
  out a: str
}
# before the test
test   t1   for S {   # after the brace
  q : "x",   expect a contains "y"    # after an expectation
  # on its own line
  check (a == "x") or latency_ms<3


  check len(a)>0}
test empty for S {}
'''

CANONICAL = '''signature S {
  in  q: str
  out a: str
}

# before the test
test t1 for S {  # after the brace
  q: "x"
  expect a contains "y"  # after an expectation
  # on its own line
  check (a == "x") or latency_ms < 3

  check len(a) > 0
}

test empty for S {}
'''


def test_canonical_layout_and_comments() -> None:
    assert format_source(MESSY) == CANONICAL
    assert_formats_safely(MESSY)
    assert format_source(CANONICAL) == CANONICAL


def test_long_expectation_wraps_inside_brackets() -> None:
    long = ", ".join(f'"item number {i}"' for i in range(8))
    text = f'signature S = "q -> a"\n\ntest t for S {{\n  q: "x"\n  check a in [{long}]\n}}\n'
    out = assert_formats_safely(text)
    assert '  check a in [\n    "item number 0",\n' in out
