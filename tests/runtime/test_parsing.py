"""Schema-aligned parsing (lmp.runtime.adapters.parsing): what a model may write for each declared
type, the value it is read as, and the coercion note that says so; and what is rejected."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    STR,
    DictType,
    ListType,
    LiteralType,
    OptionalType,
    RecordField,
    RecordType,
    Type,
)
from lmp.runtime.adapters import ChatAdapter, JSONAdapter
from lmp.runtime.adapters.base import constraint
from lmp.runtime.adapters.parsing import (
    ValueParseError,
    coerce,
    load_structured,
    parse_text,
    recording_coercions,
)
from lmp.runtime.errors import AdapterParseError, LMOutputError
from lmp.runtime.lm import FakeLM, History
from lmp.runtime.predictors import PredictorRuntime
from lmp.runtime.values import Record, to_plain
from tests.runtime.rt_helpers import Host

ABCDE = LiteralType(("A", "B", "C", "D", "E"))
CAT = LiteralType(("Wars and Conflicts", "Science and Innovation", "Economic", "Economic Events"), "Category")
POINT = RecordType((RecordField("x", INT), RecordField("label", STR)), "Point")
OPT_POINT = RecordType((RecordField("x", INT), RecordField("y", OptionalType(INT))), "OptPoint")


def note(raw: Any, value: Any, why: str, path: str = "f") -> str:
    return f"{path}: {json.dumps(raw, ensure_ascii=False)} -> {json.dumps(value, ensure_ascii=False)} ({why})"


# (text, type, value, notes). Every accepted reading that is not the canonical form has a note.
ACCEPTED: list[tuple[str, Type, Any, list[str]]] = [
    # literal members: exact, case, whitespace, wrappers
    ("C", ABCDE, "C", []),
    ("science and innovation", CAT, "Science and Innovation", [note("science and innovation", "Science and Innovation", "case")]),
    ("Wars  and\tConflicts", CAT, "Wars and Conflicts", [note("Wars  and\tConflicts", "Wars and Conflicts", "whitespace")]),
    ("  economic  events ", CAT, "Economic Events", [note("  economic  events ", "Economic Events", "case, whitespace")]),
    ('"Economic Events"', CAT, "Economic Events", [note('"Economic Events"', "Economic Events", "quotes")]),
    ("**D**", ABCDE, "D", [note("**D**", "D", "markdown")]),
    ("`B`.", ABCDE, "B", [note("`B`.", "B", "trailing punctuation, quotes")]),
    ("b", ABCDE, "B", [note("b", "B", "case")]),
    # answer labels
    ("A. build trust", ABCDE, "A", [note("A. build trust", "A", "answer label")]),
    ("(B)", ABCDE, "B", [note("(B)", "B", "answer label")]),
    ("B) library", ABCDE, "B", [note("B) library", "B", "answer label")]),
    ("Answer: C", ABCDE, "C", [note("Answer: C", "C", "answer label")]),
    ("The answer is E.", ABCDE, "E", [note("The answer is E.", "E", "answer label")]),
    ("**D.** department store", ABCDE, "D", [note("**D.** department store", "D", "answer label")]),
    # the local model's own answers, verbatim
    ("The answer to the multiple-choice question is:\n\nA. fast food restaurant", ABCDE, "A",
     ['f: "The answer to the multiple-choice question is:\\n\\nA. fast … -> "A" (answer label)']),  # clipped
    ("Your answer is:\n\nE", ABCDE, "E", [note("Your answer is:\n\nE", "E", "answer label")]),
    ("f: (c) bus stop", ABCDE, "C", [note("f: (c) bus stop", "C", "answer label")]),
    ("Economic Events: the tulip bubble", CAT, "Economic Events",
     [note("Economic Events: the tulip bubble", "Economic Events", "answer label")]),
    # first line, repeats, prose with one member
    ("C\n\nBecause the others do not fit.", ABCDE, "C",
     [note("C\n\nBecause the others do not fit.", "C", "first line")]),
    ("E; E; E", ABCDE, "E", [note("E; E; E", "E", "repeated")]),
    ("I think it is B", ABCDE, "B", [note("I think it is B", "B", "found in text")]),
    ("The event is about Economic Events in Holland.", CAT, "Economic Events",
     [note("The event is about Economic Events in Holland.", "Economic Events", "found in text")]),
    ("Not Wars and Conflicts: it was Science and Innovation", CAT, "Science and Innovation",
     [note("Not Wars and Conflicts: it was Science and Innovation", "Science and Innovation", "found in text")]),
    # floats
    ("0.9", FLOAT, 0.9, []),
    ("0.9.", FLOAT, 0.9, [note("0.9.", 0.9, "trailing punctuation")]),
    ("90%", FLOAT, 0.9, [note("90%", 0.9, "percent")]),
    ("9/10", FLOAT, 0.9, [note("9/10", 0.9, "fraction")]),
    ("8 out of 10", FLOAT, 0.8, [note("8 out of 10", 0.8, "fraction")]),
    ("about 0.85", FLOAT, 0.85, [note("about 0.85", 0.85, "number found in text")]),
    ("0.7\nI am fairly sure, 2 reasons", FLOAT, 0.7, [note("0.7\nI am fairly sure, 2 reasons", 0.7, "first line")]),
    ("one", FLOAT, 1.0, [note("one", 1.0, "number word")]),
    # ints
    ("3", INT, 3, []),
    ("three", INT, 3, [note("three", 3, "number word")]),
    ("Twenty.", INT, 20, [note("Twenty.", 20, "trailing punctuation, number word")]),
    ("3.0", INT, 3, [note("3.0", 3, "integer-valued")]),
    ("1,234", INT, 1234, [note("1,234", 1234, "thousands separator")]),
    ("-7", INT, -7, []),
    ("12345678901234567891", INT, 12345678901234567891, []),
    # booleans
    ("true", BOOL, True, []),
    ("True", BOOL, True, [note("True", True, "case")]),
    ("yes", BOOL, True, [note("yes", True, "word")]),
    ("No.", BOOL, False, [note("No.", False, "trailing punctuation, word")]),
    ("Y", BOOL, True, [note("Y", True, "word")]),
    ("n!", BOOL, False, [note("n!", False, "trailing punctuation, word")]),
    ("Yes, the claim holds.", BOOL, True, [note("Yes, the claim holds.", True, "first word")]),
    ("Answer: no", BOOL, False, [note("Answer: no", False, "answer label, word")]),
    # optional
    ("null", OptionalType(INT), None, []),
    ("N/A", OptionalType(INT), None, [note("N/A", None, "null word")]),
    ("", OptionalType(STR), None, [note("", None, "empty answer")]),
    ("4", OptionalType(INT), 4, []),
    # lists of scalars
    ('["x", "y"]', ListType(STR), ["x", "y"], []),
    ("- a\n- b", ListType(STR), ["a", "b"], [note("- a\n- b", ["a", "b"], "bulleted lines")]),
    ("1. a\n2) b\n[3] c", ListType(STR), ["a", "b", "c"], [note("1. a\n2) b\n[3] c", ["a", "b", "c"], "bulleted lines")]),
    ("Here they are:\n* a\n* b", ListType(STR), ["a", "b"],
     [note("Here they are:\n* a\n* b", ["a", "b"], "bulleted lines, introductory line dropped")]),
    ("Paris, London and Rome", ListType(STR), ["Paris", "London and Rome"],
     [note("Paris, London and Rome", ["Paris", "London and Rome"], "comma-separated line")]),
    ("Paris; London", ListType(STR), ["Paris", "London"], [note("Paris; London", ["Paris", "London"], "comma-separated line")]),
    ("Paris", ListType(STR), ["Paris"], [note("Paris", ["Paris"], "one line read as a one-item list")]),
    ("1, 2, 3", ListType(INT), [1, 2, 3], [note("1, 2, 3", [1, 2, 3], "comma-separated line")]),
    ("a, c", ListType(ABCDE), ["A", "C"],
     [note("a, c", ["A", "C"], "comma-separated line"), note("a", "A", "case", "f[0]"), note("c", "C", "case", "f[1]")]),
    # JSON: fences, prose, repairs
    ('```json\n{"x": 1, "label": "p"}\n```', POINT, {"x": 1, "label": "p"}, ["f: JSON taken from the code fence"]),
    ('Sure! Here: {"x": 1, "label": "p"} Hope it helps.', POINT, {"x": 1, "label": "p"},
     ["f: JSON taken from the text around the JSON"]),
    ('First ```json\n{"y": 1}\n``` then ```json\n{"x": 2, "label": "q"}\n```', POINT, {"x": 2, "label": "q"},
     ["f: JSON taken from the code fence 2 of 2"]),
    ('{"x": 1, "label": "p",}', POINT, {"x": 1, "label": "p"}, ["f: JSON repaired (trailing comma)"]),
    ("{x: 1, label: 'p'}", POINT, {"x": 1, "label": "p"}, ["f: JSON repaired (unquoted keys, single quotes)"]),
    ('{"x": 1, // the x\n "label": "p" /* done */}', POINT, {"x": 1, "label": "p"}, ["f: JSON repaired (comments)"]),
    ("{'a': True, 'b': None}", DictType(STR, ANY), {"a": True, "b": None}, ["f: JSON repaired (single quotes, Python literals)"]),
    ('{"x": 1, "label": "the long la', POINT, {"x": 1, "label": "the long la"},
     ["f: JSON repaired (truncated: closed a string, truncated: closed an object)"]),
    ('[{"x": 1, "label": "a"}, {"x": 2, "label": "b"}, {"x": 3, "la', ListType(POINT),
     [{"x": 1, "label": "a"}, {"x": 2, "label": "b"}],
     ["f: JSON repaired (truncated: dropped an incomplete item, truncated: closed an array)"]),
    ('["a", "b", "unfinish', ListType(STR), ["a", "b"],
     ["f: JSON repaired (truncated: dropped an incomplete item, truncated: closed an array)"]),
    ('{"x": 1, "y": 2', OPT_POINT, {"x": 1, "y": None},
     ["f: JSON repaired (truncated: dropped the incomplete entry '\"y\": 2')", "f.y: missing -> null (optional)"]),
    ('{"x": "4", "label": 5}', POINT, {"x": 4, "label": "5"}, [note("4", 4, "string", "f.x"), note(5, "5", "as text", "f.label")]),
    ('{"X": 1, "label": "p", "extra": 0}', POINT, {"x": 1, "label": "p"},
     ['f.x: read from the key "X" (case)', "f: ignored unknown key(s) extra"]),
]


@pytest.mark.parametrize(("text", "t", "value", "notes"), ACCEPTED, ids=[repr(c[0])[:40] for c in ACCEPTED])
def test_accepted_with_value_and_note(text: str, t: Type, value: Any, notes: list[str]) -> None:
    got_notes: list[str] = []
    got = parse_text(text, t, "f", notes=got_notes)
    assert to_plain(got) == value
    assert type(to_plain(got)) is type(value)
    assert got_notes == notes


REJECTED: list[tuple[str, Type, str]] = [
    # the format hint copied back, the option list echoed, several members named
    ("A; B; C; D; E; E; E", ABCDE, "lists several of the allowed values instead of choosing one"),
    ('one of: "A", "B", "C", "D", "E" (write only the chosen value)', ABCDE, "mentions several allowed values"),
    ('"A", "B", "C"', ABCDE, "lists several of the allowed values"),
    ("A. bank\nB. library\nC. mall", ABCDE, "names several options (A, B, C)"),
    ("Wars and Conflicts or Economic Events", CAT, "lists several of the allowed values"),
    ("It is Wars and Conflicts, maybe Science and Innovation", CAT, "mentions several allowed values"),
    ("A. bank, or maybe (B)", ABCDE, "names several options"),
    ("Sports", CAT, "'Sports' is not one of the allowed values"),
    ("a bank", ABCDE, "is not one of the allowed values"),
    ("The passage describes a revolving door that Mr B installed at the bank long ago.", ABCDE, "not one of"),
    # the article is not option A (the local model's answers, verbatim)
    ("A heifer's master lives in a barnyard.", ABCDE, "not one of"),
    ("A revolving door is convenient for two direction travel, but it also serves as a security measure at a "
     "specific location.", ABCDE, "not one of"),
    ("A:\n\nA:\n\nB:\n\nC:\n\nD:\n\nE:\n\nF:", ABCDE, "names several options"),
    # numbers
    ("between 3 and 5", FLOAT, "several (3, 5)"),
    ("high", FLOAT, "expected a single number"),
    ("3.5", INT, "expected an integer, got 3.5"),
    ("9/10", INT, "fraction"),
    ("twenty-five", INT, "expected a single integer"),
    ("1e400", FLOAT, "expected a finite number"),
    ("1e400", INT, "expected a finite number"),
    ("about 1e999 of them", INT, "expected a finite number"),
    # booleans
    ("No idea", BOOL, "expected true or false"),
    ("maybe", BOOL, "expected true or false"),
    # lists and JSON
    ("The first thing.\nThe second thing.", ListType(STR), "expected a JSON array or one item per line"),
    ('{"x": 1 "label": "p"}', POINT, "expected JSON"),
    ('{"x": 1, "label": 2', POINT, "missing field `f.label` (the JSON was cut off at the end)"),
    ('{"x": 1', POINT, "missing field `f.x`"),
    ('{"x": NaN, "label": "p"}', POINT, "expected a finite number at `f.x`"),
    ('[1e999]', ListType(FLOAT), "expected a finite number at `f[0]`"),
    ("Just prose, no JSON at all.", POINT, "expected JSON"),
]


@pytest.mark.parametrize(("text", "t", "message"), REJECTED, ids=[repr(c[0])[:40] for c in REJECTED])
def test_rejected_with_a_clear_message(text: str, t: Type, message: str) -> None:
    notes: list[str] = []
    with pytest.raises(ValueParseError) as err:
        parse_text(text, t, "f", notes=notes)
    assert message in str(err.value)
    assert notes == []  # a failed parse applied nothing


ALL_TYPES: list[Type] = [ABCDE, CAT, INT, FLOAT, BOOL, STR, ANY, OptionalType(INT), ListType(STR), ListType(INT),
                         ListType(ABCDE), ListType(POINT), DictType(STR, ANY), POINT, OPT_POINT]
JSONISH = st.text(alphabet=st.sampled_from(list('{}[]":,\'/*` \n-.0123456789aAbBtrueTFNnul%#')), max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=80), JSONISH), t=st.sampled_from(ALL_TYPES))
def test_any_text_parses_or_fails_with_a_value_parse_error(text: str, t: Type) -> None:
    try:
        parse_text(text, t, "f")
    except ValueParseError:
        pass


@pytest.mark.parametrize("text", ["[" * 5000, "{\"a\": " * 3000, "```json\n" + "[" * 3000 + "\n```"])
def test_deep_nesting_is_an_error_not_a_crash(text: str) -> None:
    with pytest.raises(ValueParseError):
        parse_text(text, DictType(STR, ANY), "f")


def test_the_format_hint_is_not_a_member_list_and_its_echo_is_rejected() -> None:
    hint = constraint(ABCDE)
    assert hint == 'one of: "A", "B", "C", "D", "E" (write only the chosen value)'
    assert constraint(OptionalType(ABCDE)).endswith("(write only the chosen value, or null when unknown)")
    for echo in (hint, "A; B; C; D; E", "A, B, C, D, E", "A | B | C | D | E", "A or B or C"):
        with pytest.raises(ValueParseError):
            parse_text(echo, ABCDE)


def test_recording_coercions_collects_nested_and_drops_failures() -> None:
    with recording_coercions() as outer:
        assert parse_text("90%", FLOAT, "p") == 0.9
        with recording_coercions() as inner:
            assert parse_text("Yes.", BOOL, "ok") is True
        assert inner == [note("Yes.", True, "trailing punctuation, word", "ok")]
        with pytest.raises(ValueParseError), recording_coercions() as failed:
            coerce({"x": "1"}, POINT)  # `label` missing: the x coercion was never applied
        assert failed == []
    assert outer == [note("90%", 0.9, "percent", "p"), note("Yes.", True, "trailing punctuation, word", "ok")]
    # Outside any block with no `notes`, nothing is kept anywhere (and nothing breaks).
    assert parse_text("b", ABCDE) == "B"


def test_load_structured_picks_the_first_candidate_that_validates() -> None:
    text = "```json\n[1, 2]\n```\nor rather\n```json\n{\"x\": 5, \"label\": \"z\"}\n```"
    assert load_structured(text) == [1, 2]
    got = load_structured(text, validate=lambda d: coerce(d, POINT))
    assert isinstance(got, Record) and got.x == 5


# ------------------------------------------------------------------ adapters


SIG = Signature("Pick", [Field("question", STR)],
                [Field("answer", ABCDE, None, "out"), Field("confidence", FLOAT, None, "out")], "Pick one.")


def test_chat_adapter_collects_notes_by_field_name() -> None:
    text = "[[ ## answer ## ]]\nA. build trust\n\n[[ ## confidence ## ]]\n90%\n\n[[ ## completed ## ]]"
    with recording_coercions() as notes:
        assert ChatAdapter().parse(SIG, text) == {"answer": "A", "confidence": 0.9}
    assert notes == [note("A. build trust", "A", "answer label", "answer"), note("90%", 0.9, "percent", "confidence")]


def test_chat_adapter_notes_what_it_read_without_a_section() -> None:
    sig = Signature("S", [Field("q", STR)], [Field("answer", ABCDE, None, "out"),
                                             Field("note", OptionalType(STR), None, "out")])
    with recording_coercions() as notes:
        assert ChatAdapter().parse(sig, "[[ ## answer ## ]]\nB\n\n[[ ## completed ## ]]") == {"answer": "B", "note": None}
    assert notes == ["note: no [[ ## note ## ]] section -> null (optional)"]
    one = Signature("S", [Field("q", STR)], [Field("answer", ABCDE, None, "out")])
    with recording_coercions() as notes:
        assert ChatAdapter().parse(one, "(C)") == {"answer": "C"}
    assert notes == ["answer: the whole answer read as this field (no [[ ## answer ## ]] header)",
                     note("(C)", "C", "answer label", "answer")]


def test_chat_adapter_rejects_an_echo_and_keeps_the_raw_output() -> None:
    text = "[[ ## answer ## ]]\nA; B; C; D; E; E; E; E\n\n[[ ## confidence ## ]]\n0.5"
    with pytest.raises(AdapterParseError) as err:
        ChatAdapter().parse(SIG, text)
    assert err.value.field == "answer" and err.value.raw_output == text
    assert "lists several of the allowed values" in err.value.message


def test_json_adapter_picks_the_fence_that_fits_the_signature_and_notes_it() -> None:
    text = ('Example: ```json\n{"foo": 1}\n```\nMy answer:\n```json\n{"answer": "c", "confidence": "0.4",}\n```')
    with recording_coercions() as notes:
        assert JSONAdapter().parse(SIG, text) == {"answer": "C", "confidence": 0.4}
    assert notes == ["output: JSON repaired (trailing comma)", "output: JSON taken from the code fence 2 of 2",
                     note("c", "C", "case", "answer"), note("0.4", 0.4, "string", "confidence")]
    with pytest.raises(AdapterParseError) as err:
        JSONAdapter().parse(SIG, '{"answer": "A; B; C", "confidence": 0.1}')
    assert err.value.field == "answer" and err.value.raw_output == '{"answer": "A; B; C", "confidence": 0.1}'
    with pytest.raises(AdapterParseError) as err:
        JSONAdapter().parse(SIG, '{"answer": "A", "confid')  # truncated: the required field is not invented
    assert err.value.field == "confidence" and "missing" in err.value.message


# ------------------------------------------------------------------ history


def test_coercions_are_recorded_on_the_call_that_produced_them(tmp_path) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path)
    echo = "[[ ## answer ## ]]\nA; B; C; D; E\n\n[[ ## confidence ## ]]\n0.5"
    fixed = "[[ ## answer ## ]]\n(B)\n\n[[ ## confidence ## ]]\n9/10\n\n[[ ## completed ## ]]"
    lm = FakeLM([echo, fixed], history=history)
    pred = PredictorRuntime("M.pick", "Predict", SIG, None, {}, host=Host(lm))
    assert pred({"question": "q"}).model_dump() == {"answer": "B", "confidence": 0.9}
    first, repair = history.records()
    assert first.response == echo and first.coercions == []  # its parse failed: nothing applied
    assert repair.coercions == [note("(B)", "B", "answer label", "answer"), note("9/10", 0.9, "fraction", "confidence")]
    # `lmp history` reads the file: the annotation line is merged into its record.
    stored = History.read_file(path)
    assert [r.coercions for r in stored] == [[], repair.coercions]
    assert len(path.read_text().splitlines()) == 3


def test_coercions_over_real_http_reach_the_record_of_that_call() -> None:
    from lmp.runtime.lm import FakeServer, LiteLLM

    answer = "[[ ## answer ## ]]\n**C.** bus stop\n\n[[ ## confidence ## ]]\n0.9.\n\n[[ ## completed ## ]]"
    with FakeServer(answers=[answer]) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, history=History())
        pred = PredictorRuntime("M.pick", "Predict", SIG, None, {}, host=Host(lm))  # type: ignore[arg-type]
        assert pred({"question": "q"}).model_dump() == {"answer": "C", "confidence": 0.9}
    (record,) = lm.history.records()
    assert record.coercions == [note("**C.** bus stop", "C", "answer label", "answer"),
                                note("0.9.", 0.9, "trailing punctuation", "confidence")]


def test_coercions_of_concurrent_calls_never_mix() -> None:
    history = History()
    answers = {f"q{i}": f"[[ ## answer ## ]]\n{'ABCDE'[i % 5]}. option {i}\n\n[[ ## confidence ## ]]\n{i}%\n\n"
                        "[[ ## completed ## ]]" for i in range(12)}
    lm = FakeLM(lambda messages: answers[messages[-1]["content"].split("\n")[1]], history=history)
    pred = PredictorRuntime("M.pick", "Predict", SIG, None, {}, host=Host(lm))
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            pred({"question": f"q{i}"})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for record in history.records():
        i = int(record.response.split("option ")[1].split("\n")[0])
        assert record.coercions == [note(f"{'ABCDE'[i % 5]}. option {i}", "ABCDE"[i % 5], "answer label", "answer"),
                                    note(f"{i}%", i / 100, "percent", "confidence")]


def test_an_unparsable_answer_keeps_its_raw_output_in_the_error() -> None:
    bad = "[[ ## answer ## ]]\nA; B; C; D; E; E; E\n\n[[ ## confidence ## ]]\nhigh"
    lm = FakeLM([bad, bad, '{"answer": "A; B; C"}'], history=History())
    pred = PredictorRuntime("M.pick", "Predict", SIG, None, {}, host=Host(lm))
    with pytest.raises(LMOutputError) as err:
        pred({"question": "q"})
    assert err.value.raw_output == '{"answer": "A; B; C"}'
    assert all(r.coercions == [] for r in lm.history.records())
