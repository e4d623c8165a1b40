"""`History` inputs over the loopback fake server: prior turns as earlier user/assistant messages
before the current one (chat and JSON adapters; `{role, content}` turns and records of the
signature's fields), not as an input section; bad turns are errors naming the field and turn."""

from __future__ import annotations

import json
import textwrap

import pytest

from lmp.project import load_text
from lmp.runtime import settings
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.lm import FakeServer, History, LiteLLM
from lmp.runtime.preview import render_preview
from tests.runtime.media_helpers import answer

PROGRAM = textwrap.dedent('''
    signature Reply {
      """Answer the user's latest question in the conversation."""
      in history: History
      in question: str
      out answer: str
    }

    module Chat(question: str, history: History) -> (answer: str, history: History) {
      let reply = Predict(Reply)
      r = reply(history: history, question: question)
      turns = history + [(question: question, answer: r.answer)]
      return (answer: r.answer, history: turns)
    }
''')


@pytest.fixture
def program(tmp_path):
    loaded = load_text(PROGRAM, str(tmp_path / "chat.lmp"))
    assert not loaded.errors, loaded.errors
    return loaded.program


def serve(srv: FakeServer) -> None:
    lm = LiteLLM("openai/fake", api_base=srv.url, history=History(), num_retries=0)
    settings.configure(lm=lm, history=lm.history, cache=False)


def test_role_content_turns_are_prior_messages(program):
    turns = [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hello Ada!"}]
    with FakeServer(answers=[answer(answer="Ada")]) as srv:
        serve(srv)
        out = Interpreter(program).run("Chat", question="What is my name?", history=turns)
        messages = srv.completion_requests()[0].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "My name is Ada." and messages[2]["content"] == "Hello Ada!"
    current = messages[3]["content"]
    assert current.startswith("[[ ## question ## ]]\nWhat is my name?")
    assert "[[ ## history ## ]]" not in current and "[[ ## history ## ]]" not in messages[0]["content"]
    assert "`history`" not in messages[0]["content"].split("Your output fields")[0]
    # The module returns the conversation extended by this turn, ready for the next call.
    assert out.answer == "Ada"
    assert [dict(t) for t in out.history] == [*turns, {"question": "What is my name?", "answer": "Ada"}]


def test_signature_records_render_in_the_adapters_own_format(program):
    turns = [{"question": "2 + 2?", "answer": "4"}, {"question": "And times 3?", "answer": "12"}]
    with FakeServer(answers=[answer(answer="13"), '{"answer": "14"}']) as srv:
        serve(srv)
        Interpreter(program).run("Chat", question="Plus one?", history=turns)
        interp = Interpreter(program)
        interp.predictors["Chat.reply"].options["adapter"] = "json"
        interp.run("Chat", question="Plus two?", history=turns)
        chat_body, json_body = (r.body["messages"] for r in srv.completion_requests())
    assert [m["role"] for m in chat_body] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert chat_body[1]["content"] == "[[ ## question ## ]]\n2 + 2?"
    assert chat_body[2]["content"] == "[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"
    assert chat_body[4]["content"].startswith("[[ ## answer ## ]]\n12")
    assert chat_body[5]["content"].startswith("[[ ## question ## ]]\nPlus one?")
    # JSON adapter: the same user sections, assistant turns as the JSON object it asks for.
    assert [m["role"] for m in json_body] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert json.loads(json_body[2]["content"]) == {"answer": "4"}
    assert json.loads(json_body[4]["content"]) == {"answer": "12"}
    assert json_body[5]["content"].endswith("Respond with a JSON object with the keys `answer`.")


def test_empty_history_sends_only_the_current_turn(program):
    with FakeServer(answers=[answer(answer="hi")]) as srv:
        serve(srv)
        Interpreter(program).run("Chat", question="Hello?", history=[])
        assert [m["role"] for m in srv.completion_requests()[0].body["messages"]] == ["system", "user"]


@pytest.mark.parametrize(("turn", "message"), [
    ({"role": "robot", "content": "beep"}, r"`history`\[0\] of `Reply`: role must be one of user, assistant, system"),
    ({"questoin": "typo", "answer": "x"}, r"`history`\[0\] of `Reply`: .*unknown key `questoin`"),
])
def test_bad_turns_are_errors_naming_the_field_and_turn(program, turn, message):
    with FakeServer(answers=[answer(answer="x")]) as srv:
        serve(srv)
        with pytest.raises(LmpRuntimeError, match=message):
            Interpreter(program).run("Chat", question="q", history=[turn])
        assert srv.completion_requests() == []


def test_history_must_be_a_list_of_turns(program):
    with pytest.raises(LmpRuntimeError, match="input `history` of Chat: expected History"):
        Interpreter(program).run("Chat", question="q", history=["just text"])


def test_preview_shows_prior_turns(program):
    turns = [{"role": "user", "content": "Earlier question"}, {"role": "assistant", "content": "Earlier answer"}]
    preview = render_preview(program, "Chat.reply", inputs={"question": "Now?", "history": turns})
    assert [m["role"] for m in preview.messages] == ["system", "user", "assistant", "user"]
    assert preview.messages[2]["content"] == "Earlier answer"


def test_a_prior_turn_may_hold_an_image(program):
    from lmp.runtime.media import Image

    earlier = Image.from_url("https://example.com/earlier.png")
    turns = [{"role": "user", "content": earlier}, {"role": "assistant", "content": "A lighthouse."}]
    with FakeServer(answers=[answer(answer="On a cliff.")]) as srv:
        serve(srv)
        Interpreter(program).run("Chat", question="Where is it?", history=turns)
        messages = srv.completion_requests()[0].body["messages"]
    assert messages[1] == {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/earlier.png"}}]}
    assert messages[2] == {"role": "assistant", "content": "A lighthouse."}
