from __future__ import annotations

import pytest

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import BOOL, FLOAT, INT, STR, ListType, LiteralType, OptionalType, RecordField, RecordType
from lmp.runtime.adapters import ChatAdapter, JSONAdapter
from lmp.runtime.adapters.parsing import ValueParseError, coerce, parse_text
from lmp.runtime.errors import AdapterParseError
from lmp.runtime.values import Record

CAT = LiteralType(("Wars and Conflicts", "Politics and Governance", "Economic Events"), "Category")
CITATION = RecordType((RecordField("title", STR, "the paper title"), RecordField("year", OptionalType(INT)),
                       RecordField("authors", ListType(STR))), "Citation")


def sig() -> Signature:
    return Signature("ClassifyEvent", [Field("event", STR), Field("context", ListType(STR), "facts")],
                     [Field("category", CAT, None, "out"), Field("confidence", FLOAT, "between 0 and 1", "out"),
                      Field("cites", ListType(CITATION), None, "out")], "Classify historic events.")


def test_chat_render_structure():
    msgs = ChatAdapter().render(sig(), {"event": "Battle", "context": ["a", "b"]})
    assert [m["role"] for m in msgs] == ["system", "user"]
    system = msgs[0]["content"]
    assert "1. `event` (str)" in system and "2. `context` (list[str]): facts" in system
    assert "1. `category` (Category)" in system and "2. `confidence` (float): between 0 and 1" in system
    assert ('# must be one of: "Wars and Conflicts", "Politics and Governance", "Economic Events" '
            "(write only the chosen value)") in system
    assert "a single number" in system
    assert '"title":"Citation"' in system and "JSON schema" in system
    assert system.rstrip().endswith("Classify historic events.")
    assert system.index("[[ ## event ## ]]") < system.index("[[ ## category ## ]]") < system.index("[[ ## completed ## ]]")
    user = msgs[1]["content"]
    assert user.startswith("[[ ## event ## ]]\nBattle")
    assert "[1] a\n[2] b" in user
    assert user.index("[[ ## category ## ]]") < user.index("[[ ## confidence ## ]]") < user.index("[[ ## cites ## ]]")
    assert user.endswith("[[ ## completed ## ]]`.")


def test_chat_demos_are_message_pairs_and_instructions_override():
    demos = [{"inputs": {"event": "x", "context": []}, "outputs": {"category": "Economic Events", "confidence": 0.5,
                                                                   "cites": []}},
             {"event": "y", "context": ["c"], "category": "Wars and Conflicts"}]  # flat form
    msgs = ChatAdapter().render(sig(), {"event": "e", "context": []}, demos, instructions="Be brief.")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[2]["content"] == ("[[ ## category ## ]]\nEconomic Events\n\n[[ ## confidence ## ]]\n0.5\n\n"
                                  "[[ ## cites ## ]]\n[]\n\n[[ ## completed ## ]]")
    assert "Respond with" not in msgs[1]["content"]
    assert msgs[4]["content"].startswith("[[ ## category ## ]]\nWars and Conflicts")
    assert msgs[0]["content"].rstrip().endswith("Be brief.")


def test_chat_parse_typed_values():
    text = ("[[ ## category ## ]]\n**wars  and conflicts**\n\n[[ ## confidence ## ]]\nabout 0.85\n\n"
            '[[ ## cites ## ]]\n```json\n[{"title": "T", "authors": ["A"]}]\n```\n[[ ## completed ## ]]')
    out = ChatAdapter().parse(sig(), text)
    assert out["category"] == "Wars and Conflicts"
    assert out["confidence"] == 0.85
    assert isinstance(out["cites"][0], Record) and out["cites"][0].title == "T" and out["cites"][0].year is None


def test_chat_parse_missing_section_and_bad_literal():
    with pytest.raises(AdapterParseError) as err:
        ChatAdapter().parse(sig(), "[[ ## category ## ]]\nWars and Conflicts\n[[ ## confidence ## ]]\n0.1")
    assert err.value.field == "cites" and "missing" in err.value.message
    with pytest.raises(AdapterParseError) as err:
        ChatAdapter().parse(sig(), "[[ ## category ## ]]\nSports\n[[ ## confidence ## ]]\n1\n[[ ## cites ## ]]\n[]")
    assert err.value.field == "category" and err.value.expected_type == "Category"
    assert "Sports" in err.value.raw_output


def test_single_output_without_header():
    s = Signature("S", [Field("q", STR)], [Field("answer", STR, None, "out")])
    assert ChatAdapter().parse(s, "Paris") == {"answer": "Paris"}


def test_parse_text_scalars_and_lists():
    assert parse_text("The answer: Economic Events.", CAT) == "Economic Events"
    assert parse_text("1,234", INT) == 1234
    assert parse_text("80%", FLOAT) == 0.8
    assert parse_text("Yes.", BOOL) is True
    assert parse_text("null", OptionalType(INT)) is None
    assert parse_text("- a\n- b", ListType(STR)) == ["a", "b"]
    assert parse_text('["x", "y"]', ListType(STR)) == ["x", "y"]
    with pytest.raises(ValueParseError):
        parse_text("Wars and Conflicts or Economic Events", CAT)  # ambiguous: two members
    with pytest.raises(ValueParseError):
        parse_text("3.5", INT)


def test_coerce_validates_records_with_schema():
    with pytest.raises(ValueParseError, match="missing field `authors`"):
        coerce({"title": "T"}, CITATION)
    with pytest.raises(ValueParseError):
        coerce({"title": "T", "authors": "A"}, CITATION)
    rec = coerce({"title": "T", "year": "1999", "authors": ["A"]}, CITATION)
    assert rec.year == 1999 and rec.model_dump() == {"title": "T", "year": 1999, "authors": ["A"]}


def test_json_adapter_render_and_parse():
    s = sig()
    msgs = JSONAdapter().render(s, {"event": "e", "context": []},
                                [{"inputs": {"event": "x", "context": []}, "outputs": {"category": "Economic Events"}}])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert '"category": "Economic Events"' in msgs[2]["content"]
    assert "JSON object" in msgs[-1]["content"] and '"enum"' in msgs[0]["content"]
    out = JSONAdapter().parse(s, 'Sure! {"category": "economic events", "confidence": 0.2, "cites": []}')
    assert out == {"category": "Economic Events", "confidence": 0.2, "cites": []}
    with pytest.raises(AdapterParseError) as err:
        JSONAdapter().parse(s, '{"category": "Economic Events", "confidence": "high", "cites": []}')
    assert err.value.field == "confidence"


def test_json_adapter_response_format_only_where_supported():
    from lmp.runtime.lm import FakeLM

    assert JSONAdapter().request_params(sig(), FakeLM()) == {}
