from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.values import Prediction
from tests.runtime.rt_helpers import chat, load


@pytest.fixture
def search_calls():
    sys.modules.pop("rag.search", None)
    sys.modules.pop("rag", None)
    yield
    sys.modules.pop("rag.search", None)
    sys.modules.pop("rag", None)


def test_multihop_qa(fake, search_calls):
    lm = fake([chat(query="eiffel tower"), chat(query="paris"), chat(reasoning="It says Paris.", answer="Paris")])
    result = Interpreter(load("multihop.lmp")).run("MultiHopQA", question="Which city hosts the tower?")
    assert isinstance(result, Prediction)
    assert result.answer == "Paris" and result.model_dump() == {"answer": "Paris"}
    import rag.search

    assert rag.search.CALLS == [("eiffel tower", 2), ("paris", 2)]
    # The second query sees the first hop's context; the answer sees all four passages.
    second_user = lm.calls[1]["messages"][-1]["content"]
    assert "[1] The Eiffel Tower was built by Gustave Eiffel's company." in second_user
    last_user = lm.calls[2]["messages"][-1]["content"]
    assert "[4] Paris hosts the Eiffel Tower." in last_user
    assert "[[ ## reasoning ## ]]" in lm.calls[2]["messages"][0]["content"]
    assert [c["params"]["predictor"] for c in lm.calls] == ["MultiHopQA.gen_query"] * 2 + ["MultiHopQA.answer"]


def test_tool_retriever_both_branches(fake, search_calls):
    prog = load("tool_retriever.lmp")
    fake([chat(reasoning="off topic", selected_tool="irrelevant_content")])
    assert Interpreter(prog).run("ToolRetriever", question="Best pizza?").answer == "Ask something else."
    lm = fake([chat(reasoning="payroll", selected_tool="Answer_Payroll_FAQ"),
               chat(reasoning="from context", answer="On the 25th.")])
    assert Interpreter(prog).run("ToolRetriever", question="When is paris payday?").answer == "On the 25th."
    assert "[1] Paris is the capital of France." in lm.calls[1]["messages"][-1]["content"]


def test_control_flow_builtins_records_and_module_calls(fake):
    prog = load("features.lmp")
    fake([chat(sentiment="positive", score=3), chat(sentiment="Negative", score=3), chat(sentiment="positive", score=3)])
    out = Interpreter(prog).run("Label", text="great")
    assert out.model_dump() == {"label": "mild positive", "votes": ["positive", "negative", "positive"], "total": 9}
    fake(default=chat(sentiment="neutral", score=0))
    assert Interpreter(prog).run("Label", text="meh").label == "weak"
    fake(default=chat(sentiment="positive", score=9))
    assert Interpreter(prog).run("Wrapper", text="wow").label == "strong positive"


def test_bm25_retrievers_over_files_and_jsonl(fake):
    lm = fake(default=chat(answer="Gustave Eiffel's company"))
    out = Interpreter(load("features.lmp")).run("Rag", question="Who built the Eiffel tower in Paris?")
    assert out.answer == "Gustave Eiffel's company" and out.n == 3
    user = lm.calls[0]["messages"][-1]["content"]
    assert "Gustave Eiffel's company designed and built the tower." in user
    assert "Paris | Paris is the capital" in user


def test_input_errors():
    interp = Interpreter(load("features.lmp"))
    with pytest.raises(LmpRuntimeError, match="needs the input `text`"):
        interp.run("Label")
    with pytest.raises(LmpRuntimeError, match="input `text` of Label: expected str, got int"):
        interp.run("Label", text=3)
    with pytest.raises(LmpRuntimeError, match="has no input `txt`"):
        interp.run("Label", txt="x")
    with pytest.raises(LmpRuntimeError, match="is not a module .*its modules are: Label"):
        interp.run("Nope", text="x")


def test_tool_errors_are_named_and_located(search_calls):
    interp = Interpreter(load("features.lmp"))
    with pytest.raises(LmpRuntimeError, match=r"tool `bad_search` .* returned the wrong type: expected list\[str\], got int"):
        interp.run("UsesBadTool", question="q")
    with pytest.raises(LmpRuntimeError, match=r"features.lmp:\d+:\d+: tool `crash` .*raised ValueError: index offline"):
        interp.run("UsesCrash", question="q")
    with pytest.raises(LmpRuntimeError, match="cannot import `nowhere_pkg.mod`.*next to features.lmp"):
        interp.run("UsesMissing", question="q")


def test_react_loop_with_tools_and_trajectory(fake, search_calls):
    lm = fake([
        chat(next_thought="look it up", next_tool_name="search", next_tool_args='{"query": "paris", "k": 1}'),
        chat(next_thought="check docs", next_tool_name="docs", next_tool_args='{"query": "Eiffel company"}'),
        chat(next_thought="enough", next_tool_name="finish", next_tool_args="{}"),
        chat(reasoning="trajectory says Paris", answer="Paris"),
    ])
    out = Interpreter(load("features.lmp")).run("Agentic", question="Where is the tower?")
    assert out.answer == "Paris"
    step2 = lm.calls[1]["messages"][-1]["content"]
    assert "observation_0: [\"Paris is the capital of France.\"]" in step2
    system = lm.calls[0]["messages"][0]["content"]
    assert "`search(query: str, k: int)`" in system and "`finish()`" in system
    assert "observation_1" in lm.calls[3]["messages"][-1]["content"]
    assert lm.calls[3]["params"]["tags"] == {"react_step": "extract"}


def test_react_stops_at_max_iters(fake, search_calls):
    lm = fake([chat(next_thought="again", next_tool_name="search", next_tool_args='{"query": "x"}')] * 3
              + [chat(reasoning="r", answer="gave up")])
    assert Interpreter(load("features.lmp")).run("Agentic", question="q").answer == "gave up"
    assert len(lm.calls) == 4


def test_best_of_n_uses_rollouts_and_reward(fake):
    lm = fake([chat(summary="a very long summary that fails"), chat(summary="short one"), chat(summary="never")])
    assert Interpreter(load("features.lmp")).run("Best", topic="t").summary == "short one"
    assert len(lm.calls) == 2
    assert "rollout_id" not in lm.calls[0]["params"]
    assert lm.calls[1]["params"]["rollout_id"] == 1 and lm.calls[1]["params"]["temperature"] == 1.0


def test_refine_feeds_back_and_keeps_best(fake):
    lm = fake([chat(summary="a very long summary number one"), chat(summary="another very long summary")])
    out = Interpreter(load("features.lmp")).run("Refined", topic="t")
    assert out.summary == "a very long summary number one"  # neither passes: the best (first) wins
    assert "scored 0 on `short`" in lm.calls[1]["messages"][0]["content"]


def test_concurrent_runs_share_one_interpreter():
    from lmp.runtime import settings
    from lmp.runtime.lm import FakeLM

    # Plain threads do not inherit context variables: process-wide configure() is what they see.
    settings.configure(lm=FakeLM(lambda msgs: chat(sentiment="positive", score=len(msgs[-1]["content"]) % 3)))
    interp = Interpreter(load("features.lmp"))
    results: list[str] = []

    def work(i: int) -> None:
        results.append(interp.run("Label", text="x" * i).label)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16


async def test_async_run(fake):
    fake(default=chat(sentiment="negative", score=1))
    interp = Interpreter(load("features.lmp"))
    outs = await asyncio.gather(*(interp.arun("Label", text=f"t{i}") for i in range(4)))
    assert {o.label for o in outs} == {"weak"}
