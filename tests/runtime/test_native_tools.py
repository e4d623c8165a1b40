"""ReAct over native tool calls (OpenAI `tools` / `tool_calls`) through the loopback fake server:
parallel calls run concurrently, results go back as `tool` messages, a server that refuses `tools`
gets the text protocol (once warned, remembered), and the choice shows in preview and history."""

from __future__ import annotations

import json
import textwrap
import warnings

import pytest

from lmp.project import load_text
from lmp.runtime import settings
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.lm import FakeLM, History, LMResponse
from lmp.runtime.lm.fake_server import FakeServer
from lmp.runtime.lm.litellm_lm import LiteLLM
from lmp.runtime.lm.local import INSTALL_HINT, LocalLM, find_local_model
from lmp.runtime.lm.tool_calls import ToolsRejectedWarning, forget_tool_rejections
from lmp.runtime.preview import render_preview

TOOLS_PY = '''
import time

CALLS = []


def slow_weather(city: str) -> str:
    start = time.perf_counter()
    time.sleep(0.4)
    CALLS.append(("weather", city, start, time.perf_counter()))
    return f"sunny in {city}"


def slow_population(city: str, year: int = 2020) -> int:
    start = time.perf_counter()
    time.sleep(0.4)
    CALLS.append(("population", city, start, time.perf_counter()))
    return 1000 + year
'''

PROGRAM = '''
tool weather(city: str) -> str = "nt_tools:slow_weather" "today's weather in a city"
tool population(city: str, year: int = 2020) -> int = "nt_tools:slow_population" "how many people live there"

signature CityQuestion {
  """Answer questions about cities."""
  in  question: str
  out answer: str
}

module Agent(question: str) -> (answer: str) {
  let agent = ReAct(CityQuestion, tools: [weather, population], max_iters: 3)
  return agent(question: question)
}
'''

FINAL = "[[ ## reasoning ## ]]\nfrom the tools\n\n[[ ## answer ## ]]\nsunny, 3020 people\n\n[[ ## completed ## ]]"


@pytest.fixture(autouse=True)
def clean_rejections():
    forget_tool_rejections()
    yield
    forget_tool_rejections()


@pytest.fixture
def tools_module(tmp_path, monkeypatch):
    (tmp_path / "nt_tools.py").write_text(TOOLS_PY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import sys

    sys.modules.pop("nt_tools", None)
    return importlib.import_module("nt_tools")


def program(tmp_path):
    loaded = load_text(textwrap.dedent(PROGRAM), str(tmp_path / "agent.lmp"))
    assert not loaded.errors, loaded.errors
    return loaded.program


def responder(body: dict) -> str | dict:
    """A model that calls both tools at once, then summarizes, then answers the extraction call."""
    if body.get("tools"):
        if not any(m["role"] == "tool" for m in body["messages"]):
            return {"content": "I need the weather and the population.",
                    "tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}},
                                   {"name": "population", "arguments": {"city": "Oslo", "year": 2020}}]}
        return {"content": "Oslo is sunny and has 3020 people."}
    return FINAL


def run_agent(tmp_path, lm, question="Weather and size of Oslo?"):
    history = History()
    lm.history = history
    settings.configure(lm=lm, history=history)
    result = Interpreter(program(tmp_path)).run("Agent", {"question": question})
    return result, history


def test_parallel_native_calls_run_concurrently_and_results_go_back(tmp_path, tools_module):
    with FakeServer(responder=responder) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"tool_calls": "native"}, num_retries=0)
        assert lm.tool_mode() == "native"
        result, history = run_agent(tmp_path, lm)
        bodies = [r.body for r in srv.completion_requests()]
    assert result["answer"] == "sunny, 3020 people"
    # Both calls of the one turn overlapped in time (each sleeps 0.4 s).
    (_, _, s1, e1), (_, _, s2, e2) = sorted(tools_module.CALLS, key=lambda c: c[2])
    assert s2 < e1, f"calls ran one after the other: {tools_module.CALLS}"
    assert max(e1, e2) - min(s1, s2) < 0.75
    # The first request offered both tools as function definitions with typed parameters.
    defs = {t["function"]["name"]: t["function"] for t in bodies[0]["tools"]}
    assert set(defs) == {"weather", "population"}
    assert defs["population"]["parameters"]["properties"]["year"] == {"type": "integer"}
    assert defs["population"]["parameters"]["required"] == ["city"]
    assert defs["weather"]["description"] == "today's weather in a city"
    # The second request carried the assistant's tool calls and one tool message per call, in order.
    second = bodies[1]["messages"]
    calls = second[-3]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["weather", "population"]
    tool_msgs = second[-2:]
    assert [m["role"] for m in tool_msgs] == ["tool", "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == [c["id"] for c in calls]
    assert [m["content"] for m in tool_msgs] == ["sunny in Oslo", "3020"]
    # The extraction call is the ordinary typed call, without tools, reading the trajectory.
    assert "tools" not in bodies[2]
    assert "observation_1: 3020" in bodies[2]["messages"][-1]["content"]
    traj = result.get("answer") and result  # the module returns only the answer; the predictor saw the rest
    assert traj
    # History records the protocol and the calls.
    native = [r for r in history.records() if r.tools]
    assert [r.tags.get("tool_protocol") for r in native] == ["native", "native"]
    assert native[0].tools == {"protocol": "native", "names": ["weather", "population"]}
    assert [c["name"] for c in native[0].tool_calls] == ["weather", "population"]
    assert json.loads(native[0].tool_calls[1]["arguments"]) == {"city": "Oslo", "year": 2020}


def test_server_rejecting_tools_falls_back_to_text_once(tmp_path, tools_module):
    step = ("[[ ## next_thought ## ]]\nI know enough\n\n[[ ## next_tool_name ## ]]\nfinish\n\n"
            "[[ ## next_tool_args ## ]]\n{}\n\n[[ ## completed ## ]]")

    def text_model(body: dict) -> str:
        system = body["messages"][0]["content"]
        return step if "next_tool_name" in system else FINAL

    with FakeServer(responder=text_model, reject_tools=True) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"tool_calls": "native"}, num_retries=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result, _ = run_agent(tmp_path, lm)
            first = [r.body for r in srv.completion_requests()]
            result2, _ = run_agent(tmp_path, lm, "Again?")
            second = [r.body for r in srv.completion_requests()][len(first):]
    assert result["answer"] == result2["answer"] == "sunny, 3020 people"
    rejected = [w for w in caught if issubclass(w.category, ToolsRejectedWarning)]
    assert len(rejected) == 1 and "tool_calls: \"text\"" in str(rejected[0].message)
    # One refused request, then the text protocol; the second run never offers tools again.
    assert "tools" in first[0] and all("tools" not in b for b in first[1:])
    assert all("tools" not in b for b in second)
    assert lm.tool_mode() == "text"


def test_bad_calls_become_observations(tmp_path, tools_module):
    turns = [
        LMResponse("", "fake", tool_calls=[{"id": "c1", "name": "nosuch", "arguments": "{}"},
                                           {"id": "c2", "name": "weather", "arguments": "{not json"},
                                           {"id": "c3", "name": "population", "arguments": '{"city": 3}'}]),
        LMResponse("done", "fake"),
        FINAL,
    ]
    lm = FakeLM(turns, tool_calls="native")
    result, _ = run_agent(tmp_path, lm)
    assert result["answer"] == "sunny, 3020 people"
    tool_msgs = [m for m in lm.calls[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["c1", "c2", "c3"]
    assert "no tool `nosuch`" in tool_msgs[0]["content"] and "weather, population" in tool_msgs[0]["content"]
    assert "not valid JSON" in tool_msgs[1]["content"]
    assert tool_msgs[2]["content"].startswith("error:") and "city" in tool_msgs[2]["content"]
    assert tools_module.CALLS == []


@pytest.mark.skipif(find_local_model() is None,
                    reason=f"the embedded local model is not installed ({INSTALL_HINT})")
def test_default_protocol_per_model_kind():
    assert LiteLLM("hosted_vllm/m", api_base="http://127.0.0.1:1/v1").tool_mode() == "native"
    assert LiteLLM("ollama/llama3", api_base="http://127.0.0.1:1").tool_mode() == "native"
    assert LiteLLM("openai/m", api_base="http://127.0.0.1:1/v1").tool_mode() == "text"  # unknown server
    assert LiteLLM("openai/m", api_base="http://127.0.0.1:1/v1", params={"server": "vllm"}).tool_mode() == "native"
    assert LiteLLM("hosted_vllm/m", api_base="http://x/v1", params={"tool_calls": "text"}).tool_mode() == "text"
    assert LiteLLM("text-completion-openai/m", api_base="http://x/v1", model_type="text").tool_mode() == "text"
    assert LocalLM().tool_mode() == "text"  # llama.cpp: grammar-held text calls
    lm = LiteLLM("hosted_vllm/m", api_base="http://x/v1", params={"tool_calls": "native"})
    assert "tool_calls" not in lm.params  # lmp's setting, never sent
    with pytest.raises(ValueError, match="tool_calls"):
        LiteLLM("openai/m", params={"tool_calls": "yes"})


def test_preview_shows_the_protocol(tmp_path, monkeypatch):
    prog = program(tmp_path)
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "hosted_vllm/m")
    settings.reset()
    native = render_preview(prog, "Agent.agent")
    assert native.tools is not None and native.tools["protocol"] == "native"
    assert [t["function"]["name"] for t in native.tools["definitions"]] == ["weather", "population"]
    assert "next_tool_name" not in native.messages[0]["content"]
    assert native.to_json()["tools"]["protocol"] == "native"
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "openai/m")
    monkeypatch.setenv("OPENAI_API_BASE", "")
    settings.reset()
    text = render_preview(prog, "Agent.agent")
    assert text.tools is not None and text.tools["protocol"] == "text"
    assert "next_tool_name" in text.messages[0]["content"]


def test_trace_shows_native_calls(tmp_path, tools_module, capsys):
    from lmp.cli.cmd_run import print_trace

    with FakeServer(responder=responder) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"tool_calls": "native"}, num_retries=0)
        _, history = run_agent(tmp_path, lm)
    print_trace(history.records())
    err = capsys.readouterr().err
    assert "call 1: openai/fake · Agent.agent" in err and "native tools: weather, population" in err
    assert '-> weather({"city": "Oslo"})' in err  # the calls the model made
    assert "(result of " in err and "sunny in Oslo" in err  # the tool messages of the next call


def test_native_turns_replay_from_the_cache(tmp_path, tools_module):
    from lmp.runtime.lm.cache import DiskCache

    cache = DiskCache(tmp_path / "cache")
    with FakeServer(responder=responder) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"tool_calls": "native"}, num_retries=0, cache=cache)
        first, _ = run_agent(tmp_path, lm)
        sent = len(srv.completion_requests())
        again, history = run_agent(tmp_path, lm)
        assert len(srv.completion_requests()) == sent  # every turn, tool calls included, came from the cache
    assert again["answer"] == first["answer"]
    assert [r.cached for r in history.records()] == [True, True, True]
    assert [c["name"] for c in history.records()[0].tool_calls] == ["weather", "population"]
    assert len(tools_module.CALLS) == 4  # the tools themselves ran again (only model answers are cached)


def test_litellm_transport_reads_tool_calls_too(tmp_path, tools_module):
    with FakeServer(responder=responder) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, params={"tool_calls": "native"}, num_retries=0,
                     transport="litellm")
        result, history = run_agent(tmp_path, lm)
        bodies = [r.body for r in srv.completion_requests()]
    assert result["answer"] == "sunny, 3020 people"
    assert {t["function"]["name"] for t in bodies[0]["tools"]} == {"weather", "population"}
    assert [m["role"] for m in bodies[1]["messages"][-2:]] == ["tool", "tool"]
    assert [c["name"] for c in history.records()[0].tool_calls] == ["weather", "population"]


@pytest.mark.skipif(find_local_model() is None,
                    reason=f"the embedded local model is not installed ({INSTALL_HINT})")
def test_lmp_preview_prints_the_tools_block(tmp_path, monkeypatch, capsys):
    from lmp.cli.main import main

    path = tmp_path / "agent.lmp"
    path.write_text(textwrap.dedent(PROGRAM), encoding="utf-8")
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "hosted_vllm/m")
    assert main(["preview", str(path), "Agent.agent"]) == 0
    out = capsys.readouterr().out
    assert "──── tools: native (sent as `tools`; parallel calls run concurrently) ────" in out
    assert '"name": "population"' in out and "next_tool_name" not in out
    monkeypatch.setenv("LMP_MODEL_DEFAULT", "local")
    assert main(["preview", str(path), "Agent.agent"]) == 0
    assert "──── tools: text protocol ────" in capsys.readouterr().out
