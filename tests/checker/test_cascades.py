"""One mistake, one diagnostic, at the place to fix (issue 12 item 9, issue 15).

Each case is the topic classifier below with one mistake a person makes while typing; the test
asserts every diagnostic `lmp check` reports (code, 1-based line:col, message), so a cascade (a
second error, a false warning) fails it.
"""

from __future__ import annotations

from lmp.diagnostics import Diagnostic
from lmp.project import load_text

PROGRAM = """\
type Topic = "sports" | "politics" | "tech"

signature ClassifyTopic {
  \"\"\"Classify the text.\"\"\"
  in text: str
  out topic: Topic
}

module Classify(text: str) -> (topic: Topic) {
  let classify = Predict(ClassifyTopic)
  r = classify(text: text)
  return (topic: r.topic)
}
"""


def check(text: str) -> list[Diagnostic]:
    return load_text(text, "/tmp/topic.lmp").diagnostics


def summary(diags: list[Diagnostic]) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.span.line + 1, d.span.col + 1, d.message) for d in diags]


def edit(old: str, new: str) -> str:
    assert PROGRAM.count(old) == 1, old
    return PROGRAM.replace(old, new)


def test_the_program_itself_is_clean() -> None:
    assert check(PROGRAM) == []


def test_missing_paren_is_one_error_at_the_paren_and_no_false_unused_predictor() -> None:
    # Was: `(` never closed + "unknown name `r`" + W200 "predictor `classify` is never called".
    diags = check(edit("r = classify(text: text)", "r = classify(text: text"))
    assert summary(diags) == [("E001", 11, 15, "`(` is never closed")]
    assert diags[0].hint == "add the matching `)`"
    [fix] = diags[0].fixes
    assert fix.text == ")" and (fix.span.line + 1, fix.span.col + 1) == (11, 26)


def test_missing_paren_of_a_call_over_several_lines() -> None:
    diags = check(edit("r = classify(text: text)", "r = classify(\n    text: text\n"))
    assert summary(diags) == [("E001", 11, 15, "`(` is never closed")]


def test_misspelt_declaration_keyword_is_one_error_with_did_you_mean() -> None:
    # Was: 6 errors (one per line of the signature, then "unknown signature"), no suggestion.
    diags = check(edit("signature ClassifyTopic {", "signatur ClassifyTopic {"))
    assert summary(diags) == [("E001", 3, 1, "unknown keyword `signatur`")]
    assert diags[0].hint == "did you mean `signature`?"
    [fix] = diags[0].fixes
    assert fix.text == "signature" and (fix.span.start, fix.span.end) == (diags[0].span.start, diags[0].span.end)


def test_misspelt_statement_keyword() -> None:
    diags = check(edit('type Topic = "sports" | "politics" | "tech"\n', 'type Topic = "sports" | "politics" | "tech"\n')
                  .replace("  let classify", "  lett classify"))
    assert summary(diags) == [("E001", 10, 3, "unknown keyword `lett`")]
    assert diags[0].hint == "did you mean `let`?"


def test_missing_closing_brace_is_reported_at_the_brace_that_opens() -> None:
    # The signature's `}` is missing: the error points at its `{`, with a note where it ends.
    diags = check(edit('  out topic: Topic\n}\n', '  out topic: Topic\n\n'))
    assert summary(diags) == [("E001", 3, 25, "`{` is never closed")]
    assert diags[0].hint == "add the matching `}`"
    [note] = diags[0].related
    assert (note.span.line + 1, note.span.col + 1) == (6, 19)


def test_missing_closing_brace_at_end_of_file() -> None:
    diags = check(PROGRAM[: PROGRAM.rindex("}")])
    assert summary(diags) == [("E001", 9, 46, "`{` is never closed")]
    [note] = diags[0].related
    assert note.span.line + 1 == 12


def test_unclosed_inner_block_is_the_one_reported() -> None:
    # The `if` lost its `}`; the module's `}` at column 0 closes the module, so the `if` is the culprit.
    diags = check(edit("  return (topic: r.topic)\n",
                       '  if r.topic == "tech" {\n    return (topic: r.topic)\n  return (topic: r.topic)\n'))
    assert summary(diags) == [("E001", 12, 24, "`{` is never closed")]


def test_missing_colon_is_one_error_and_the_field_is_still_declared() -> None:
    # Was: the syntax error plus "`r` (ClassifyTopic) has no field `topic`" at the return.
    diags = check(edit("out topic: Topic", "out topic Topic"))
    assert summary(diags) == [("E001", 6, 13, "missing `:` between `topic` and `Topic`")]
    [fix] = diags[0].fixes
    assert fix.text == ":" and (fix.span.line + 1, fix.span.col + 1) == (6, 12)


def test_membership_in_a_list_checks_each_listed_string() -> None:
    diags = check(edit("  return (topic: r.topic)\n",
                       '  if r.topic in ["sports", "sprots"] {\n    return (topic: r.topic)\n  }\n'
                       '  return (topic: "tech")\n'))
    assert summary(diags) == [("E060", 12, 28, '"sprots" is not a member of `Topic`')]
    assert diags[0].hint is not None and diags[0].hint.startswith('did you mean "sports"?')
    assert [f.text for f in diags[0].fixes] == ['"sports"']


def test_not_in_a_list_too() -> None:
    diags = check(edit("  return (topic: r.topic)\n",
                       '  if r.topic not in ["tehc"] {\n    return (topic: r.topic)\n  }\n'
                       '  return (topic: "tech")\n'))
    assert summary(diags) == [("E060", 12, 22, '"tehc" is not a member of `Topic`')]


def test_unfinished_line_before_an_assignment_is_one_error_on_that_line() -> None:
    # Issue 15: `x = a.` gave 4 errors and a warning (the next line parsed into it).
    diags = check(edit("  r = classify(text: text)\n", "  x = text.\n  r = classify(text: text)\n"))
    assert summary(diags) == [("E001", 11, 12, "unexpected end of line; expected a name")]


def test_unfinished_line_before_return_is_one_error_on_that_line() -> None:
    # Was: "`r` has no field `return`" and "can reach its end without returning" (a.return(...)).
    diags = check(edit("  return (topic: r.topic)\n", "  x = r.\n  return (topic: r.topic)\n"))
    assert summary(diags) == [("E001", 12, 9, "unexpected end of line; expected a name")]


def test_unfinished_last_line_of_a_block() -> None:
    diags = check(edit("  return (topic: r.topic)\n", "  return (topic: r.topic)\n  y = 1 +\n"))
    assert summary(diags) == [("E001", 13, 10, "unexpected end of line; expected an expression")]


def test_a_skipped_line_does_not_cascade_into_flow_diagnostics() -> None:
    # The assignment of `r` is skipped: neither "unknown name `r`" nor "never called" follows.
    diags = check(edit("r = classify(text: text)", "r = = classify(text: text)"))
    assert summary(diags) == [("E001", 11, 7, "unexpected `=`; expected an expression")]


def test_flow_warnings_still_reported_where_there_is_no_syntax_error() -> None:
    broken_other = PROGRAM + "\nmodule Other(text: str) -> (topic: Topic) {\n  x = = 1\n}\n"
    unused = edit("  r = classify(text: text)\n  return (topic: r.topic)\n", '  return (topic: "tech")\n')
    diags = check(unused + "\nmodule Other(text: str) -> (topic: Topic) {\n  x = = 1\n}\n")
    assert [(d.code, d.span.line + 1) for d in diags] == [("W200", 10), ("E001", 15)]
    assert [d.code for d in check(broken_other)] == ["E001"]


def test_misspelt_return_written_like_a_call() -> None:
    # `retrun (topic: ...)` parses as a call; it is one error (with the fix), not also "can reach its end".
    diags = check(edit("  return (topic: r.topic)", "  retrun (topic: r.topic)"))
    assert summary(diags) == [("E030", 12, 3, "unknown name `retrun`")]
    assert diags[0].hint == "did you mean `return`?"
    assert [f.text for f in diags[0].fixes] == ["return"]


def test_declarations_past_the_syntax_error_cap_stay_quiet_too() -> None:
    # Only the first 50 syntax errors are shown; the modules holding the others are just as damaged.
    modules = 'signature S = "q -> a"\n\n' + "".join(
        f"module M{i}(q: str) -> (a: str) {{\n  let p = Predict(S)\n  r = = p(q: q)\n  return (a: q)\n}}\n\n"
        for i in range(80))
    diags = check(modules)
    assert {d.code for d in diags} == {"E001"}
    assert len(diags) == 50


def test_missing_paren_in_a_declaration_header() -> None:
    # Was: the header line skipped, then one error per line of the body.
    diags = check(edit("module Classify(text: str) ->", "module Classify(text: str ->"))
    assert summary(diags) == [("E001", 9, 27, "missing `)` before `->`")]
    assert [(f.text, f.span.line + 1, f.span.col + 1) for f in diags[0].fixes] == [(")", 9, 26)]


def test_missing_equals_sign() -> None:
    diags = check(edit("r = classify(text: text)", "r classify(text: text)"))
    assert summary(diags) == [("E001", 11, 5, "missing `=` before `classify`")]
    diags = check(edit("let classify = Predict", "let classify Predict"))
    assert summary(diags) == [("E001", 10, 16, "missing `=` before `Predict`")]


def test_if_without_its_brace() -> None:
    diags = check(edit("  return (topic: r.topic)\n",
                       '  if r.topic == "tech"\n    return (topic: r.topic)\n  }\n  return (topic: r.topic)\n'))
    assert summary(diags) == [("E001", 12, 23, "missing `{` at the end of the line")]


def test_swapped_letters_in_a_keyword() -> None:
    diags = check(edit("out topic: Topic", "otu topic: Topic"))
    assert summary(diags) == [("E001", 6, 3, "unknown keyword `otu`")]
    assert diags[0].hint == "did you mean `out`?"


def test_unclosed_call_is_closed_before_the_next_statement() -> None:
    # Inside brackets `return` reads as a name: the call must not swallow the return as an argument.
    diags = check(edit("r = classify(text: text)", "r = classify(text: text,\n"))
    assert summary(diags) == [("E001", 11, 15, "`(` is never closed")]


def test_error_in_a_declaration_header_is_one_error() -> None:
    diags = check(edit("module Classify(text: str) -> (topic: Topic) {", "module Classify(text: str) -> (topic: Topic) = {"))
    assert [(d.code, d.span.line + 1) for d in diags] == [("E001", 9)]


def test_uses_of_a_declaration_dropped_by_its_header_error_are_not_unknown() -> None:
    broken = edit('type Topic = "sports"', 'type Topic = = "sports"')
    assert summary(check(broken)) == [
        ("E001", 1, 14, "unexpected `=`; expected one of `(`, `{`, a name, a string")]
    caller = "\nmodule Outer(text: str) -> (topic: Topic) {\n  return Classify(text: text)\n}\n"
    broken = edit("(topic: Topic) {\n  let", "(topic: Topic) = {\n  let") + caller
    assert summary(check(broken)) == [("E001", 9, 46, "unexpected `=`; expected `{`")]
