"""Decoding constraints on the wire: the exact body fields per server kind, the once-per-process
fallback when a server rejects them, derived max_tokens, finish_reason and truncation, cache keys and
history — through real HTTP to the loopback fake server, on both transports."""

from __future__ import annotations

import warnings

import pytest

from lmp.ir.nodes import Field, Signature
from lmp.ir.types import FLOAT, STR, ListType, LiteralType
from lmp.runtime.adapters.constraints import compile_constraint
from lmp.runtime.errors import LMOutputError, LMTruncatedError
from lmp.runtime.lm import DiskCache, FakeServer, History, LiteLLM, LocalLM
from lmp.runtime.lm.constrain import ConstraintRejectedWarning, forget_rejections
from lmp.runtime.predictors import PredictorRuntime
from tests.runtime.rt_helpers import Host

SENTIMENT = LiteralType(("positive", "neutral", "negative"))
SIG = Signature("Classify", [Field("text", STR, None, "in")], [Field("sentiment", SENTIMENT, None, "out")])
GOOD_CHAT = "[[ ## sentiment ## ]]\npositive\n\n[[ ## completed ## ]]"
GOOD_JSON = '{"sentiment":"positive"}'


@pytest.fixture(autouse=True, params=["auto", "litellm"])
def transport(request, monkeypatch):
    monkeypatch.setenv("LMP_TRANSPORT", request.param)
    return request.param


@pytest.fixture(autouse=True)
def _clean_rejections():
    forget_rejections()
    yield
    forget_rejections()


def run(lm, sig: Signature = SIG, adapter: str = "chat", kind: str = "Predict"):
    return PredictorRuntime("M.p", kind, sig, None, {"adapter": adapter}, host=Host(lm))({"text": "great film"})


def make(srv: FakeServer, **params) -> LiteLLM:
    return LiteLLM("openai/fake", api_base=srv.url, params=params, backoff_base=0.001, history=History())


def body(server: FakeServer, i: int = -1) -> dict:
    return server.completion_requests()[i].body


@pytest.mark.parametrize("server_kind,field,extract", [
    ("llama.cpp", "grammar", lambda b: b["grammar"]),
    ("vllm", "structured_outputs", lambda b: b["structured_outputs"]["grammar"]),
    ("sglang", "ebnf", lambda b: b["ebnf"]),
])
def test_grammar_servers_get_the_compiled_grammar_in_their_field(server_kind, field, extract):
    with FakeServer(answers=[GOOD_CHAT]) as srv:
        assert run(make(srv, server=server_kind)).sentiment == "positive"
        sent = body(srv)
    expected = compile_constraint("chat", SIG)
    assert extract(sent) == expected.grammar
    assert not {"grammar", "structured_outputs", "ebnf", "response_format"} - {field} & set(sent)
    assert "server" not in sent and "constrain" not in sent  # lmp's own params stay out of the body
    assert sent["max_tokens"] == expected.budget and sent["stop"] == ["[[ ## completed ## ]]"]


def test_json_adapter_on_a_grammar_server_gets_the_compact_object_grammar():
    with FakeServer(answers=[GOOD_JSON]) as srv:
        assert run(make(srv, server="llama.cpp"), adapter="json").sentiment == "positive"
        sent = body(srv)
    assert sent["grammar"] == compile_constraint("json", SIG).grammar
    assert "response_format" not in sent


def test_json_schema_mode_sends_a_strict_response_format():
    with FakeServer(answers=[GOOD_JSON]) as srv:
        run(make(srv, server="llama.cpp", constrain="json_schema"), adapter="json")
        sent = body(srv)
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Classify", "strict": True, "schema": {
            "type": "object", "properties": {"sentiment": {"type": "string", "enum": list(SENTIMENT.members)}},
            "required": ["sentiment"], "additionalProperties": False}}}
    assert "grammar" not in sent


def test_ollama_takes_a_schema_for_the_json_adapter_and_nothing_for_the_chat_adapter():
    with FakeServer(answers=[GOOD_JSON, GOOD_CHAT]) as srv:
        lm = make(srv, server="ollama")
        run(lm, adapter="json")
        run(lm, adapter="chat")
        json_body, chat_body = body(srv, 0), body(srv, 1)
    assert json_body["response_format"]["json_schema"]["schema"] == compile_constraint("json", SIG).schema
    assert not {"grammar", "response_format", "structured_outputs", "ebnf"} & set(chat_body)
    # Unconstrained: the budget leaves room for the layout the model chooses.
    assert chat_body["max_tokens"] == compile_constraint("chat", SIG).loose_budget


def test_unknown_openai_compatible_server_is_unconstrained_unless_asked():
    with FakeServer(answers=[GOOD_CHAT, GOOD_CHAT]) as srv:
        run(make(srv))
        run(make(srv, constrain="grammar"))
        plain, asked = body(srv, 0), body(srv, 1)
    assert "grammar" not in plain
    assert asked["grammar"] == compile_constraint("chat", SIG).grammar


def test_the_embedded_model_always_gets_the_grammar(monkeypatch):
    with FakeServer(answers=[GOOD_CHAT]) as srv:
        lm = LocalLM(url=srv.url)
        assert lm.server_kind() == "llama.cpp"
        run(lm)
        assert body(srv)["grammar"] == compile_constraint("chat", SIG).grammar


def test_a_server_that_rejects_the_constraint_falls_back_once_and_is_remembered():
    with FakeServer(responder=lambda b: GOOD_CHAT, reject_constraints=True) as srv:
        lm = make(srv, server="llama.cpp")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert run(lm).sentiment == "positive"
            assert run(lm).sentiment == "positive"
        bodies = [r.body for r in srv.completion_requests()]
    # One rejected request, then unconstrained: the retry and the second run never send a grammar.
    assert ["grammar" in b for b in bodies] == [True, False, False]
    rejected = [w for w in seen if issubclass(w.category, ConstraintRejectedWarning)]
    assert len(rejected) == 1 and "rejected the grammar decoding constraint" in str(rejected[0].message)
    records = lm.history.records()
    assert records[0].error is not None and "grammar" in records[0].error
    assert records[1].constraint["kind"] == "none" and "fallback" in records[1].constraint
    assert records[2].constraint == {"kind": "none"}


def test_other_bad_requests_are_not_mistaken_for_a_rejected_constraint():
    with FakeServer(fail_always=True, fail_status=400) as srv:
        lm = make(srv, server="llama.cpp")
        with pytest.raises(Exception, match="rejected the request"):
            run(lm)
        assert len(srv.completion_requests()) == 1
        assert lm.constraint_mode(compile_constraint("chat", SIG)) == "grammar"


def test_cache_key_is_stable_and_separates_constrained_from_unconstrained(tmp_path):
    cache = DiskCache(tmp_path / "c")
    with FakeServer(responder=lambda b: GOOD_CHAT) as srv:
        constrained = LiteLLM("openai/fake", api_base=srv.url, params={"server": "llama.cpp"}, cache=cache)
        plain = LiteLLM("openai/fake", api_base=srv.url, cache=cache)
        run(constrained)
        run(constrained)  # same request -> same key -> a hit
        assert len(srv.completion_requests()) == 1
        run(plain)  # no grammar (and another max_tokens): a different request
        assert len(srv.completion_requests()) == 2


def test_history_records_the_constraint_kind_and_hash_not_the_text():
    with FakeServer(answers=[GOOD_CHAT]) as srv:
        lm = make(srv, server="llama.cpp")
        run(lm)
    record = lm.history.records()[-1]
    c = compile_constraint("chat", SIG)
    assert record.constraint == {"kind": "grammar", "hash": c.digest()}
    assert "grammar" not in record.params and record.finish_reason == "stop"


def test_a_cut_off_answer_says_so_and_names_max_tokens():
    long = "[[ ## sentiment ## ]]\n" + "very " * 50
    with FakeServer(answers=[long], honor_max_tokens=True) as srv:
        lm = make(srv, server="llama.cpp", max_tokens=6)
        with pytest.raises(LMTruncatedError) as err:
            run(lm)
        assert len(srv.completion_requests()) == 1  # constrained and cut off: no hopeless repair
    assert "cut off at max_tokens=6; raise it (model param max_tokens" in str(err.value)
    assert lm.history.records()[-1].finish_reason == "length"


def test_finish_reason_survives_the_cache(tmp_path):
    cache = DiskCache(tmp_path / "c")
    with FakeServer(answers=["one two three four"], honor_max_tokens=True) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, cache=cache)
        first = lm.complete([{"role": "user", "content": "x"}], max_tokens=2)
        again = lm.complete([{"role": "user", "content": "x"}], max_tokens=2)
    assert first.finish_reason == "length" and first.truncated
    assert again.cached and again.finish_reason == "length"


def test_constrained_failure_costs_at_most_two_calls():
    # Valid by the grammar's shape but not by the parser (a number out of the float grammar cannot
    # happen; an unparsable list item can): the second call is the unconstrained repair, then the error.
    sig = Signature("S", [Field("text", STR, None, "in")], [Field("xs", ListType(FLOAT), None, "out")])
    bad = "[[ ## xs ## ]]\nnot a list\n\n[[ ## completed ## ]]"
    with FakeServer(responder=lambda b: bad) as srv:
        with pytest.raises(LMOutputError) as err:
            run(make(srv, server="llama.cpp"), sig=sig)
        bodies = [r.body for r in srv.completion_requests()]
    assert len(bodies) == 2 and "grammar" in bodies[0] and "grammar" not in bodies[1]
    assert "after a repair attempt;" in str(err.value)


def test_unconstrained_failure_keeps_the_json_adapter_fallback():
    with FakeServer(responder=lambda b: "I think it is good") as srv:
        with pytest.raises(LMOutputError):
            run(make(srv))
        assert len(srv.completion_requests()) == 3


def test_bad_constraint_settings_are_named():
    with pytest.raises(ValueError, match="`constrain` must be one of grammar, json_schema, none"):
        LiteLLM("openai/x", api_base="http://127.0.0.1:1/v1", params={"constrain": "regex"})
    with pytest.raises(ValueError, match="`server` must be one of"):
        LiteLLM("openai/x", api_base="http://127.0.0.1:1/v1", params={"server": "tgi"})


def test_hosted_models_get_strict_json_schema_for_the_json_adapter_only_where_litellm_supports_it():
    from lmp.runtime.lm.constrain import request_fields

    hosted = LiteLLM("openai/gpt-4o-mini")
    unknown = LiteLLM("someprovider/unknown-model-x")
    json_c, chat_c = compile_constraint("json", SIG), compile_constraint("chat", SIG)
    assert hosted.constraint_mode(json_c) == "json_schema"
    assert hosted.constraint_mode(chat_c) == "none"  # no hosted provider takes a grammar
    assert unknown.constraint_mode(json_c) == "none"
    fields = request_fields(json_c, "json_schema", hosted.server_kind(), strict=True)
    assert fields["response_format"]["json_schema"]["strict"] is True
