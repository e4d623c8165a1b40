"""Any text a person can type yields diagnostics, never an exception or a hang."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmp.project import load_text

SEEDS = [p.read_text() for p in sorted((Path(__file__).parent / "valid").glob("*.lmp"))]
TOKEN = re.compile(r'"""[\s\S]*?"""|"[^"\n]*"|\w+|\s+|.', re.MULTILINE)
PIECES = ["{", "}", "(", ")", "[", "]", ",", ":", "=", "+=", "->", "|", "?", '"', '"""', "\n", "#",
          "let", "return", "for", "in", "if", "else", "module", "signature", "out", "type", "x", "1.5", "@"]


def mutate(text: str, ops: list[tuple[int, int, int]]) -> str:
    tokens = TOKEN.findall(text)
    for kind, a, b in ops:
        if not tokens:
            break
        i, j = a % len(tokens), b % len(tokens)
        if kind == 0:
            del tokens[i]
        elif kind == 1:
            tokens.insert(i, PIECES[b % len(PIECES)])
        elif kind == 2:
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == 3:
            tok = tokens[i]
            if tok:
                k = b % len(tok)
                tokens[i] = tok[:k] + tok[k + 1:]
        else:
            tokens[i] = tokens[i] + chr(32 + b % 95)
    return "".join(tokens)


def check_never_raises(text: str) -> None:
    loaded = load_text(text, "/tmp/fuzz.lmp")
    for d in loaded.diagnostics:
        assert d.code and d.message
        assert 0 <= d.span.start <= d.span.end <= len(text) + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=len(SEEDS) - 1),
    ops=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10_000), st.integers(0, 10_000)), min_size=1,
                 max_size=8),
)
def test_mutated_programs_give_diagnostics_without_raising(seed: int, ops: list[tuple[int, int, int]]) -> None:
    check_never_raises(mutate(SEEDS[seed], ops))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_diagnostics_without_raising(text: str) -> None:
    check_never_raises(text)


def test_every_prefix_of_a_program_checks_without_raising() -> None:
    text = SEEDS[0]
    for end in range(0, len(text), 7):
        check_never_raises(text[:end])


def test_deep_nesting_is_reported_not_crashed() -> None:
    deep = "module M(q: str) -> (a: str) {\n  x = " + "[" * 3000 + "1" + "]" * 3000 + "\n  return (a: q)\n}\n"
    loaded = load_text(deep, "/tmp/deep.lmp")
    assert all(d.code in ("E001", "E003", "W201") for d in loaded.diagnostics)
