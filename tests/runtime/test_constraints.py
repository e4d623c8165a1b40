"""The constraint compiler: every valid value of every output type is accepted by the grammar sent to
the server, invalid ones are rejected (matched with llguidance, a real GBNF engine)."""

from __future__ import annotations

import json

import pytest

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
from lmp.runtime.adapters.constraints import (
    compile_constraint,
    json_schema,
    tool_arg_types,
    type_from_text,
)
from tests.runtime.gbnf_matcher import accepts, check_grammar

SENTIMENT = LiteralType(("positive", "neutral", "negative"), "Sentiment")
POINT = RecordType((RecordField("x", INT), RecordField("label", STR)), "Point")
NESTED = RecordType((RecordField("name", STR), RecordField("at", POINT), RecordField("note", OptionalType(STR))),
                    "Place")


def sig(*outputs: tuple[str, Type]) -> Signature:
    return Signature("S", [Field("q", STR, None, "in")], [Field(n, t, None, "out") for n, t in outputs])


def chat(body: dict[str, str]) -> str:
    return "\n\n".join(f"[[ ## {k} ## ]]\n{v}" for k, v in body.items()) + "\n\n[[ ## completed ## ]]"


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# (type, valid chat-section texts, invalid chat-section texts, valid JSON values, invalid JSON texts)
CASES: list[tuple[str, Type, list[str], list[str], list[object], list[str]]] = [
    ("literal", SENTIMENT, ["positive", "neutral", "negative"], ["Positive", "positive.", "good", "", "positive neutral"],
     ["negative"], ['"Positive"', "positive", '"pos"']),
    ("int", INT, ["0", "42", "-7", "123456789"], ["4.5", "01", "forty", "", "1 2", "+3"],
     [0, -12, 99], ["1.5", '"3"', "07"]),
    ("float", FLOAT, ["0.5", "-3", "10", "1.25e-3", "0"], ["0.5.1", ".5", "half", "", "1,5"],
     [0.25, -1.0, 3], ['"0.5"', ".5", "NaN"]),
    ("bool", BOOL, ["true", "false"], ["True", "yes", "1", "", "truefalse"],
     [True, False], ['"true"', "yes", "True"]),
    ("str", STR, ["hello", "two\nlines", "a [1] citation", "ünïcode ✓"], ["", "no [[ brackets", "x" * 801, "one paragraph\n\nthen another"],
     ["hello", "with \"quotes\" and \\", "line\nbreak"], ["hello", "'single'", '"a' + "\n" + 'b"']),
    ("list[str]", ListType(STR), ['["a","b"]', "[]", '["x"]'], ['["a", "b"]', "[a,b]", '["a",]', "a, b", ""],
     [["a", "b"], [], ["x y"]], ['["a", "b"]', '["a",]', "[1]"]),
    ("list[int]", ListType(INT), ["[1,2,3]", "[]", "[-4]"], ['["1"]', "[1.5]", "[1, 2]", "1,2"],
     [[1, 2], []], ['["1"]', "[1.5]"]),
    ("optional", OptionalType(INT), ["3", "null"], ["None", "", "three"],
     [None, 5], ['"null"', "None"]),
    ("record", POINT, ['{"x":1,"label":"a"}'], ['{"label":"a","x":1}', '{"x":1}', '{"x":1,"label":"a","y":2}',
                                                  '{"x": 1, "label": "a"}', '{"x":"1","label":"a"}'],
     [{"x": 1, "label": "a"}], ['{"x":1}', '{"x":1,"label":"a","y":2}']),
    ("nested record", NESTED, ['{"name":"n","at":{"x":2,"label":"b"},"note":null}',
                               '{"name":"n","at":{"x":2,"label":"b"},"note":"hi"}'],
     ['{"name":"n","at":{"x":2},"note":null}', '{"name":"n","at":{"x":2,"label":"b"}}'],
     [{"name": "n", "at": {"x": 0, "label": ""}, "note": None}], ['{"name":"n","at":null,"note":null}']),
    ("list of records", ListType(POINT), ['[{"x":1,"label":"a"},{"x":2,"label":"b"}]', "[]"],
     ['[{"x":1}]', '[{"x":1,"label":"a"} ]', "{}"],
     [[{"x": 1, "label": "a"}]], ['[{"label":"a"}]']),
    ("dict[str,int]", DictType(STR, INT), ['{"a":1,"b":2}', "{}"], ['{"a":"1"}', "{a:1}", '{"a":1,}', "[]"],
     [{"a": 1}, {}], ['{"a":1.5}', '{"a":null}']),
    ("any", ANY, ['{"a":[1,true,null,"x"]}', '"text"', "12", "[]", "null"], ["text", "{a:1}", "[1,]"],
     [{"k": [1, {"z": None}]}, "s", 1.5], ["{a:1}", "undefined"]),
]


@pytest.mark.parametrize("label,t,valid,invalid,_jv,_ji", CASES, ids=[c[0] for c in CASES])
def test_chat_grammar_accepts_valid_and_rejects_invalid_values(label: str, t: Type, valid: list[str],
                                                               invalid: list[str], _jv: object, _ji: object) -> None:
    c = compile_constraint("chat", sig(("answer", t)))
    assert c.grammar is not None
    check_grammar(c.grammar)
    for v in valid:
        assert accepts(c.grammar, chat({"answer": v})), f"{label}: valid {v!r} rejected\n{c.grammar}"
    for v in invalid:
        assert not accepts(c.grammar, chat({"answer": v})), f"{label}: invalid {v!r} accepted\n{c.grammar}"


@pytest.mark.parametrize("label,t,_cv,_ci,valid,invalid", CASES, ids=[c[0] for c in CASES])
def test_json_grammar_accepts_valid_and_rejects_invalid_values(label: str, t: Type, _cv: object, _ci: object,
                                                               valid: list[object], invalid: list[str]) -> None:
    c = compile_constraint("json", sig(("answer", t)))
    assert c.grammar is not None
    check_grammar(c.grammar)
    for v in valid:
        text = compact({"answer": v})
        assert accepts(c.grammar, text), f"{label}: valid {text} rejected\n{c.grammar}"
    for raw in invalid:
        text = '{"answer":' + raw + "}"
        assert not accepts(c.grammar, text), f"{label}: invalid {text} accepted\n{c.grammar}"


def test_chat_grammar_fixes_header_order_and_the_end_marker() -> None:
    c = compile_constraint("chat", sig(("sentiment", SENTIMENT), ("score", FLOAT), ("ok", BOOL)))
    assert c.grammar is not None
    good = {"sentiment": "neutral", "score": "0.5", "ok": "true"}
    assert accepts(c.grammar, chat(good))
    assert not accepts(c.grammar, chat({"score": "0.5", "sentiment": "neutral", "ok": "true"}))
    assert not accepts(c.grammar, chat(good).replace("\n\n[[ ## completed ## ]]", ""))
    assert not accepts(c.grammar, "Sure! " + chat(good))


def test_chain_of_thought_reasoning_is_bounded_free_text_before_the_outputs() -> None:
    c = compile_constraint("chat", sig(("reasoning", STR), ("sentiment", SENTIMENT), ("n", INT)))
    assert c.grammar is not None
    assert accepts(c.grammar, chat({"reasoning": "It says great.\nSo positive.", "sentiment": "positive", "n": "2"}))
    assert not accepts(c.grammar, chat({"reasoning": "x" * 1201, "sentiment": "positive", "n": "2"}))
    assert not accepts(c.grammar, chat({"sentiment": "positive", "n": "2"}))


def test_react_step_constrains_the_tool_and_that_tools_arguments() -> None:
    step = sig(("next_thought", STR), ("next_tool_name", LiteralType(("search", "lookup", "finish"))),
               ("next_tool_args", DictType(STR, ANY)))
    tools = tool_arg_types({"search": [("query", "str"), ("k", "int")], "lookup": [("id", "int")]})
    c = compile_constraint("chat", step, tools)
    assert c.grammar is not None
    check_grammar(c.grammar)

    def step_text(tool: str, args: str) -> str:
        return chat({"next_thought": "look it up", "next_tool_name": tool, "next_tool_args": args})

    assert accepts(c.grammar, step_text("search", '{"query":"paris","k":3}'))
    assert accepts(c.grammar, step_text("lookup", '{"id":7}'))
    assert accepts(c.grammar, step_text("finish", "{}"))
    assert not accepts(c.grammar, step_text("search", '{"id":7}'))  # another tool's arguments
    assert not accepts(c.grammar, step_text("search", '{"query":"paris","k":"3"}'))
    assert not accepts(c.grammar, step_text("browse", "{}"))
    assert not accepts(c.grammar, step_text("finish", '{"x":1}'))
    j = compile_constraint("json", step, tools)
    assert j.grammar is not None
    assert accepts(j.grammar, '{"next_thought":"t","next_tool_name":"lookup","next_tool_args":{"id":7}}')
    assert not accepts(j.grammar, '{"next_thought":"t","next_tool_name":"lookup","next_tool_args":{"query":"x","k":1}}')


def test_untyped_parts_are_constrained_as_far_as_possible_and_say_so() -> None:
    c = compile_constraint("chat", sig(("meta", DictType(STR, ANY)), ("label", SENTIMENT)))
    assert c.grammar is not None
    assert any("meta" in n and "any" in n for n in c.notes), c.notes
    assert accepts(c.grammar, chat({"meta": '{"a":{"b":[1,"x"]}}', "label": "neutral"}))
    assert not accepts(c.grammar, chat({"meta": "not json", "label": "neutral"}))
    j = compile_constraint("json", sig(("meta", DictType(STR, ANY))))
    assert j.notes and not j.strict_ok
    untyped = compile_constraint("chat", sig(("x", STR)), {"search": None})
    assert untyped.notes == ()  # no ReAct pair: tools are irrelevant
    assert compile_constraint("chat", sig(("x", ANY))).notes


def test_json_schema_is_strict_style_literals_as_enum_and_every_key_required() -> None:
    t = RecordType((RecordField("s", SENTIMENT, "the mood"), RecordField("n", OptionalType(INT)),
                    RecordField("tags", ListType(STR)), RecordField("p", POINT)))
    schema, strict = json_schema(t)
    assert strict
    assert schema["required"] == ["s", "n", "tags", "p"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["s"] == {"type": "string", "enum": ["positive", "neutral", "negative"],
                                         "description": "the mood"}
    assert schema["properties"]["n"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert schema["properties"]["p"]["additionalProperties"] is False
    j = compile_constraint("json", sig(("s", SENTIMENT), ("n", OptionalType(INT))))
    assert j.schema is not None and j.schema["required"] == ["s", "n"] and j.strict_ok


def test_compiled_once_per_signature_and_stable() -> None:
    a = compile_constraint("chat", sig(("sentiment", SENTIMENT)))
    b = compile_constraint("chat", sig(("sentiment", SENTIMENT)))
    assert a is b
    assert a.digest() == b.digest() and a.digest().startswith("sha256:")
    assert compile_constraint("json", sig(("sentiment", SENTIMENT))).digest() != a.digest()


def test_budgets_follow_the_types() -> None:
    lit = compile_constraint("chat", sig(("sentiment", SENTIMENT)))
    text = compile_constraint("chat", sig(("summary", STR)))
    cot = compile_constraint("chat", sig(("reasoning", STR), ("sentiment", SENTIMENT)))
    assert lit.budget <= 48, lit.budget
    assert 800 <= text.budget <= 1100, text.budget  # 800 characters of text at one token each, worst case
    assert cot.budget > text.budget
    assert lit.loose_budget > lit.budget


def test_literal_members_with_quotes_and_backslashes_are_exact() -> None:
    odd = LiteralType(('say "hi"', "back\\slash", "a|b"))
    c = compile_constraint("chat", sig(("x", odd)))
    j = compile_constraint("json", sig(("x", odd)))
    assert c.grammar is not None and j.grammar is not None
    for m in odd.members:
        assert accepts(c.grammar, chat({"x": m}))
        assert accepts(j.grammar, compact({"x": m}))
    assert not accepts(c.grammar, chat({"x": "a"}))


def test_type_from_text_reads_tool_parameter_types() -> None:
    assert type_from_text("int") == INT
    assert type_from_text("list[str]") == ListType(STR)
    assert type_from_text("str?") == OptionalType(STR)
    assert type_from_text('"a" | "b"') == LiteralType(("a", "b"))
    assert type_from_text("Passage") == ANY


def test_a_small_user_max_tokens_shrinks_free_text_so_the_answer_still_fits():
    s = sig(("reasoning", STR), ("sentiment", SENTIMENT))
    roomy = compile_constraint("chat", s)
    tight = compile_constraint("chat", s, max_tokens=100)
    assert tight.grammar is not None and tight.grammar != roomy.grammar
    assert tight.budget <= 110 < roomy.budget
    short, long = "Short and clear.", "word " * 60
    assert accepts(tight.grammar, chat({"reasoning": short, "sentiment": "neutral"}))
    assert not accepts(tight.grammar, chat({"reasoning": long, "sentiment": "neutral"}))
    assert accepts(roomy.grammar, chat({"reasoning": long, "sentiment": "neutral"}))
    assert compile_constraint("chat", s, max_tokens=roomy.budget + 50) is roomy  # room enough: the usual grammar


def test_a_small_max_tokens_squeezes_a_react_steps_tool_arguments_too():
    # Seen on examples/tool_agent (max_tokens: 128): the thought was squeezed but a search query could
    # still run to 300 characters, so the step was cut off inside `next_tool_args` (LMTruncatedError).
    step = sig(("next_thought", STR), ("next_tool_name", LiteralType(("search_faq", "overtime_pay", "finish"))),
               ("next_tool_args", DictType(STR, ANY)))
    tools = tool_arg_types({"search_faq": [("query", "str")],
                            "overtime_pay": [("hourly_rate", "float"), ("hours", "float")]})
    roomy = compile_constraint("chat", step, tools)
    tight = compile_constraint("chat", step, tools, max_tokens=128)
    # Two floats budgeted at 24 digits each leave no room under 128 in the worst case: squeezed to the floor.
    assert tight.grammar is not None and tight.budget < roomy.budget
    query = "search_faq(query: str) returns a list of all the questions that match the query, including " * 2

    def step_text(args: str) -> str:
        return chat({"next_thought": "look it up", "next_tool_name": "search_faq", "next_tool_args": args})

    assert accepts(roomy.grammar, step_text(compact({"query": query[:250]})))
    assert not accepts(tight.grammar, step_text(compact({"query": query[:250]})))
    assert accepts(tight.grammar, step_text(compact({"query": "payday"})))
    assert accepts(tight.grammar, chat({"next_thought": "t", "next_tool_name": "overtime_pay",
                                        "next_tool_args": '{"hourly_rate":20,"hours":3}'}))


def _longest_text(grammar: str, fields: dict[str, str], name: str, hi: int = 5000) -> int:
    """The most characters of digits (one token each) the grammar lets `name` hold, the others as given."""
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if accepts(grammar, chat({**fields, name: "1" * mid})):
            lo = mid
        else:
            hi = mid - 1
    return lo


WORST_CASE_SIGS = {
    "one str": (sig(("summary", STR)), {"summary": "s"}),
    "CoT, two outputs": (sig(("reasoning", STR), ("answer", STR), ("sentiment", SENTIMENT)),
                         {"reasoning": "r", "answer": "a", "sentiment": "neutral"}),
    "str and literal": (sig(("verdict", STR), ("label", SENTIMENT)), {"verdict": "v", "label": "positive"}),
}


@pytest.mark.parametrize("max_tokens", [None, 40, 64, 100, 128, 200, 400, 3000])
@pytest.mark.parametrize("label", list(WORST_CASE_SIGS))
def test_free_text_filled_to_its_bound_still_fits_in_max_tokens(label: str, max_tokens: int | None) -> None:
    # Seen in bench/examples_parse.py: a rambling 135M model writes `# # #` or digit runs at 1-2 characters
    # a token, and answers the grammar kept valid were cut off at a max_tokens sized for prose (3-4).
    # Digits are one token each, the worst case for ASCII, so every text field filled with digits to its
    # bound must fit, with the sections' fixed text counted at 2 characters a token (measured ~2.5-3).
    s, minimal = WORST_CASE_SIGS[label]
    c = compile_constraint("chat", s, max_tokens=max_tokens)
    assert c.grammar is not None
    cap = max_tokens or c.budget
    text_fields = [f.name for f in s.outputs if f.type == STR]
    longest = {n: _longest_text(c.grammar, minimal, n) for n in text_fields}
    filled = chat({**minimal, **{n: "1" * k for n, k in longest.items()}})
    assert accepts(c.grammar, filled)
    structure = len(filled) - sum(longest.values())
    worst_tokens = sum(longest.values()) + -(-structure // 2)
    if max_tokens is None or max_tokens >= 100 or worst_tokens <= cap:
        assert worst_tokens <= cap, (longest, worst_tokens, cap)
    else:  # too small for even the shortest bounds: squeezed to the floor, and the estimate says so
        assert all(k <= 24 for k in longest.values()) and c.budget > max_tokens, (longest, c.budget)


def test_a_large_user_max_tokens_lengthens_free_text() -> None:
    s = sig(("summary", STR))
    usual = compile_constraint("chat", s)
    long = compile_constraint("chat", s, max_tokens=4000)
    assert long.grammar is not None and usual.grammar is not None
    essay = "word " * 400  # 2,000 characters: over the usual 800
    assert not accepts(usual.grammar, chat({"summary": essay.strip()}))
    assert accepts(long.grammar, chat({"summary": essay.strip()}))
    assert compile_constraint("chat", s, max_tokens=usual.budget + 20) is usual
