"""lmp.fmt.format_source: layout, comments, safety, errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from lmp.fmt import FormatError, format_source
from lmp.project import load_text

from .helpers import assert_formats_safely

FIXTURES = Path(__file__).parent / "fixtures"
TOUR = sorted(FIXTURES.glob("*.lmp"))


def fmt(text: str) -> str:
    return format_source(textwrap.dedent(text).lstrip("\n"))


def same(text: str) -> None:
    text = textwrap.dedent(text).lstrip("\n")
    assert format_source(text) == text


@pytest.mark.parametrize("path", TOUR, ids=lambda p: p.name)
def test_tour_programs_round_trip(path: Path) -> None:
    text = path.read_text()
    out = assert_formats_safely(text)
    loaded = load_text(out, str(path))
    assert not loaded.errors, loaded.errors


def test_messy_input_becomes_exact_expected_output() -> None:
    text = (FIXTURES / "messy.input").read_text()
    expected = (FIXTURES / "messy.expected").read_text()
    assert format_source(text) == expected
    assert format_source(expected) == expected


def test_canonical_text_is_unchanged() -> None:
    same('''
        type Label = "yes" | "no"

        signature Ask {
          """Answer."""
          in  question: str "the question"
          out answer: Label
        }

        module M(question: str) -> (answer: Label) {
          let ask = Predict(Ask)
          return ask(question: question)
        }
    ''')


def test_normalizations() -> None:
    assert fmt('''
        model m="x"{temperature=0.5}
        module M(a:str,)->(b:str,){
            x=f(a,k=True,n=None)
            y = (a)
            return (b : False)
        }
    ''') == textwrap.dedent('''\
        model m = "x" { temperature: 0.5 }

        module M(a: str) -> (b: str) {
          x = f(a, k: true, n: none)
          y = a
          return (b: false)
        }
    ''')


def test_strings_are_requoted() -> None:
    out = fmt(r'''
        signature S = "q -> a"
        example S { q: "tab\there \q \"x\" \\ end" }
    ''')
    assert r'q: "tab\there q \"x\" \\ end"' in out


def test_docstrings() -> None:
    out = fmt('''
        signature S {
              """   First line.
                 Second line,
                   indented.

                 Last."""
          out a: str
        }
    ''')
    assert out == textwrap.dedent('''\
        signature S {
          """First line.
          Second line,
            indented.

          Last.
          """
          out a: str
        }
    ''')


def test_precedence_keeps_needed_parentheses() -> None:
    out = fmt('''
        module M(a: int, b: int) -> (c: int) {
          x = (a + b) * (a - (b - a))
          y = -(a + b) % 2
          z = (not a) == b and (a or b)
          return (c: x)
        }
    ''')
    assert "x = (a + b) * (a - (b - a))" in out
    assert "y = -(a + b) % 2" in out
    assert "and (a or b)" in out


def test_long_calls_break_one_argument_per_line() -> None:
    args = ", ".join(f"argument_number_{i}: value_{i}" for i in range(6))
    out = fmt(f'''
        module M(q: str) -> (a: str) {{
          r = some_predictor({args})
          return r
        }}
    ''')
    assert "  r = some_predictor(\n    argument_number_0: value_0,\n" in out
    assert "    argument_number_5: value_5,\n  )\n" in out


def test_long_unions_break_one_member_per_line() -> None:
    members = " | ".join(f'"member number {i}"' for i in range(8))
    out = fmt(f"type T = {members}\n")
    assert out.startswith('type T = "member number 0"\n  | "member number 1"\n')
    short = fmt('type T = "a"\n  | "b"\n')
    assert short == 'type T = "a" | "b"\n'


def test_blank_lines() -> None:
    out = fmt('''
        model a = "x"
        model b = "y"
        type T = str
        module M(q: str) -> (a: str) {


          x = q

          y = q
          z = q
        }
    ''')
    assert out == textwrap.dedent('''\
        model a = "x"
        model b = "y"

        type T = str

        module M(q: str) -> (a: str) {
          x = q

          y = q
          z = q
        }
    ''')


# ---------------------------------------------------------------- comments in every position


def test_comments_before_declarations_and_trailing() -> None:
    same('''
        # file header

        # about T
        type T = str  # trailing

        # about M
        module M(q: str) -> (a: str) {  # on the opening line
          # before a statement
          x = q  # after a statement

          # before return
          return (a: x)
          # at the end of the block
        }  # after the closing brace

        # end of file
    ''')


def test_comments_inside_signatures_and_records() -> None:
    same('''
        type R = {  # record
          # before a field
          a: str  # after a field
          b: int?
          # last
        }

        signature S {
          # before the docstring
          """Doc."""  # after the docstring
          in  q: str  # input
          # between
          out a: str
          # end
        }
    ''')


def test_comments_inside_calls_and_lists_break_them() -> None:
    out = fmt('''
        module M(q: str) -> (a: str) {
          r = f(q, # first
                k: 3)
          xs = [1, 2,  # two
                3]
          return r
        }
    ''')
    assert out == textwrap.dedent('''\
        module M(q: str) -> (a: str) {
          r = f(
            q,  # first
            k: 3,
          )
          xs = [
            1,
            2,  # two
            3,
          ]
          return r
        }
    ''')


def test_comments_in_if_else_and_for() -> None:
    same('''
        module M(q: str) -> (a: str) {
          for i in range(2) {  # loop
            # inside the loop
            q += "x"
          }
          if q == "a" {  # then
            return (a: q)
          } elif q == "b" {  # elif
            # nothing
          } else {
            return (a: "c")  # else
          }
          return (a: q)
        }
    ''')


def test_comment_inside_an_expression_moves_before_its_statement() -> None:
    text = textwrap.dedent('''
        module M(a: int) -> (b: int) {
          x = a +  # half way
            1
          return (b: x)
        }
    ''').lstrip()
    out = assert_formats_safely(text)
    assert "  # half way\n  x = a + 1\n" in out


def test_comments_in_union_members() -> None:
    same('''
        type T = "a"  # first
          # before b
          | "b"
          | "c"  # last
    ''')


def test_hash_inside_strings_is_not_a_comment() -> None:
    same('''
        signature S = "q -> a"

        example S {
          q: "what is # this?"
        }
    ''')


# ---------------------------------------------------------------- errors


def test_syntax_error_names_the_first_error() -> None:
    with pytest.raises(FormatError) as info:
        format_source("type T = str\nmodule M( {\n}\ntype U = \n", "bad.lmp")
    assert re.match(r"bad\.lmp:\d+:\d+: ", str(info.value))
    assert info.value.line is not None and info.value.col is not None
    with pytest.raises(FormatError) as info:
        format_source("type T = str\n\ntype U = = str\n", "bad.lmp")
    assert str(info.value).startswith("bad.lmp:3:10: ")


@pytest.mark.parametrize("junk", ["\x00\x01\x02", "module {{{{", "type = |", '"unterminated', "}" * 50,
                                  "(" * 2000, "signature S {\n  in a: str\n"])
def test_junk_raises_format_error_not_a_traceback(junk: str) -> None:
    with pytest.raises(FormatError):
        format_source(junk)


def test_empty_and_comment_only_files() -> None:
    assert format_source("") == ""
    assert format_source("\n\n  \n") == ""
    assert format_source("# just a comment   \n\n\n# another") == "# just a comment\n\n# another\n"


def test_crlf_input() -> None:
    out = format_source('type T = "a" | "b"\r\n\r\nsignature S = "q -> a"  # c\r\n')
    assert out == 'type T = "a" | "b"\n\nsignature S = "q -> a"  # c\n'


def test_format_error_is_raised_when_the_safety_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import lmp.fmt.format as F

    real = F.Printer.file

    def lossy(self, decls):  # noqa: ANN001, ANN202
        return real(self, decls).replace("# keep me", "")

    monkeypatch.setattr(F.Printer, "file", lossy)
    F._cache.clear()
    with pytest.raises(FormatError, match="comment"):
        format_source("type T   = str  # keep me\n")
    monkeypatch.setattr(F.Printer, "file", lambda self, decls: real(self, decls).replace("str", "int"))
    F._cache.clear()
    with pytest.raises(FormatError, match="meaning"):
        format_source("type T   = str\n")


UNARY_CASES = [
    # (source expression, canonical output): parentheses a unary operator needs are kept, the rest dropped.
    ("(-a).a", "(-a).a"),
    ("(-a)(b)", "(-a)(b)"),
    ("(-a)[0]", "(-a)[0]"),
    ("(-a.b)[0]", "(-a.b)[0]"),
    ("(not a).b", "(not a).b"),
    ("(not a)(b)", "(not a)(b)"),
    ("(not a)[b]", "(not a)[b]"),
    ("((-a)).b", "(-a).b"),
    ("(-(-a)).b", "(--a).b"),
    ("-(-a)", "--a"),
    ("-(a.b)", "-a.b"),
    ("-(not a)", "-(not a)"),
    ("not (-a)", "not -a"),
    ("not (not a)", "not (not a)"),
    ("(-a) * b", "-a * b"),
    ("a * (-b)", "a * -b"),
    ("a - (-b)", "a - -b"),
    ("(not a) == b", "(not a) == b"),
    ("a == (not b)", "a == (not b)"),
    ("[(-a).b, f((-a).b)]", "[(-a).b, f((-a).b)]"),
    ("x[(-a).b]", "x[(-a).b]"),
]


@pytest.mark.parametrize(("source", "canonical"), UNARY_CASES, ids=[c[0] for c in UNARY_CASES])
def test_unary_operators_keep_their_operand_in_every_position(source: str, canonical: str) -> None:
    text = f"example A0 {{\n  a: {source}\n}}\n"
    out = assert_formats_safely(text)
    assert out == f"example A0 {{\n  a: {canonical}\n}}\n"


def test_moving_a_model_with_settings_keeps_the_span_free_ir() -> None:
    # Found by the property test: the IR comparison counted `param_spans` (positions) as meaning.
    out = assert_formats_safely('type A0 = str\nmodel a0 = "openai/x" { a: 0.5 }  # note\n')
    assert out == 'type A0 = str\n\nmodel a0 = "openai/x" { a: 0.5 }  # note\n'


EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("**/*.lmp"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_shipped_examples_are_in_canonical_layout(path: Path) -> None:
    # Users copy the examples; `lmp fmt --check` in their CI must pass on what they copied.
    text = path.read_text(encoding="utf-8")
    assert format_source(text) == text, f"run: lmp fmt {path.relative_to(path.parents[2])}"
