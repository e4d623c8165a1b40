from __future__ import annotations

from lmp.syntax import parse


def codes_and_lines(text: str) -> list[tuple[int, str]]:
    return [(d.span.line + 1, d.code) for d in parse(text).diagnostics]


def test_clean_program_parses_in_one_tree() -> None:
    result = parse('signature S = "q -> a"\n\nmodule M(q: str) -> (a: str) {\n  let p = Predict(S)\n  return p(q: q)\n}\n')
    assert result.diagnostics == []
    assert len(result.trees) == 1


def test_newlines_continue_unions_calls_and_else() -> None:
    text = (
        'type T = "a"\n'
        '       | "b"   # a comment between\n'
        '       | "c"\n'
        "module M(q: str) -> (a: str) {\n"
        "  x = len(\n"
        "    q,\n"
        "  )\n"
        "  if x > 1 {\n"
        '    return (a: "big")\n'
        "  }\n"
        "  else {\n"
        '    return (a: "small")\n'
        "  }\n"
        "}\n"
    )
    assert parse(text).diagnostics == []


def test_brackets_and_keywords_inside_a_comment_line_do_not_join_statements() -> None:
    # A comment line that contains `)`, `}`, `|` or starts with `else` must not make the statement
    # before it continue onto the next line.
    for comment in ("# unique(): drop repeats", "# (see above)", "# else we stop", "# a | b", "# }", "# -> x"):
        text = f"module M(q: str) -> (a: str) {{\n  z = q\n  {comment}\n  z = q\n  return (a: z)\n}}\n"
        result = parse(text)
        assert result.diagnostics == [], comment
        assert len(result.trees) == 1


def test_one_bad_line_does_not_hide_the_rest() -> None:
    text = (
        "module M(q: str) -> (a: str) {\n"
        "  x = = 1\n"
        "  y = 2 +\n"
        "  return (a: q)\n"
        "}\n"
        "signature S {\n"
        "  in q: str\n"
        "  out a: $\n"
        "}\n"
        'signature Ok = "q -> a"\n'
    )
    result = parse(text)
    lines = [d.span.line + 1 for d in result.diagnostics]
    assert 2 in lines and 8 in lines
    assert all(d.code == "E001" for d in result.diagnostics)
    # The good declaration after the errors still parsed.
    names = [str(decl.children[0]) for tree in result.trees for decl in tree.children]
    assert "Ok" in names


def test_messages_speak_in_words_not_token_names() -> None:
    [diag] = parse("module M(q: str) {\n  x = = 1\n}\n").diagnostics
    assert diag.message == "unexpected `=`; expected an expression"
    assert (diag.span.line, diag.span.col) == (1, 6)
    assert "NAME" not in diag.message and "__ANON" not in diag.message


def test_unclosed_bracket_is_reported_where_it_opens() -> None:
    diags = parse('module M(q: str) -> (a: str) {\n  x = len(q\n  return (a: q)\n}\n').diagnostics
    assert diags[0].message == "`(` is never closed"
    assert (diags[0].span.line, diags[0].span.col) == (1, 9)


def test_missing_closing_brace_is_reported_where_the_block_opens() -> None:
    # The place to fix is the `{` that is never closed; where the file ends is the related note.
    [diag] = parse('module M(q: str) -> (a: str) {\n  return (a: q)\n').diagnostics
    assert diag.message == "`{` is never closed"
    assert (diag.span.line, diag.span.col) == (0, 29)
    assert diag.hint == "add the matching `}`"
    [note] = diag.related
    assert (note.span.line, note.span.col) == (1, 15)


def test_binary_junk_and_deep_nesting_give_diagnostics() -> None:
    junk = bytes(range(256)).decode("latin-1") * 20
    assert parse(junk).diagnostics
    deep = "module M(q: str) -> (a: str) {\n  x = " + "(" * 5000 + "1" + ")" * 5000 + "\n  return (a: q)\n}\n"
    result = parse(deep)
    assert all(d.code in ("E001", "E003") for d in result.diagnostics)


def test_huge_file_is_refused_cleanly() -> None:
    result = parse("#" * 6_000_000)
    assert [d.code for d in result.diagnostics] == ["E002"]


def test_any_comment_line_between_statements_changes_nothing() -> None:
    import string

    from hypothesis import given, settings
    from hypothesis import strategies as st

    typed = st.sampled_from(sorted(set(string.printable) - set("\n\r\x0b\x0c")))  # what people type

    @settings(max_examples=300, deadline=None)
    @given(st.text(typed | st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40))
    def check(comment: str) -> None:
        text = f"module M(q: str) -> (a: str) {{\n  z = q\n  # {comment}\n  z = q\n  return (a: z)\n}}\n"
        assert parse(text).diagnostics == [], comment

    check()
