"""MCP tool servers end to end with a real stdio server written here (the `mcp` SDK's MCPServer):
the checker never starts it and asks for a refresh, `lmp mcp refresh` writes the manifest, the
checker types calls from it (a wrong argument type is E090), a changed script or command is
noticed, and at run time direct calls and ReAct (text and native protocols) reach the server,
which is started once per process."""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
import textwrap
from pathlib import Path

import pytest

from lmp.cli.main import main
from lmp.project import load_program
from lmp.runtime import mcp_tools, settings
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.lm import FakeLM, History, LMResponse

if importlib.util.find_spec("mcp") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tooling import missing

    missing("the `mcp` package is not installed", "pip install -e '.[dev]' (or '.[mcp]')")

SERVER = '''
import os
from mcp.server.mcpserver import MCPServer

with open("started.log", "a") as log:
    log.write(f"{os.getpid()}\\n")

app = MCPServer("calc")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@app.tool()
def lookup(topic: str, limit: int = 2) -> list[str]:
    """Passages about a topic."""
    return [f"{topic} {i}" for i in range(limit)]


@app.tool()
def profile(name: str) -> dict:
    """A person's profile."""
    return {"name": name, "age": 41}


if __name__ == "__main__":
    app.run()
'''


def program_text(command: str, body: str) -> str:
    return textwrap.dedent(f'''
        tool Calc = mcp("{command}")

        signature Question {{
          """Answer with the tools."""
          in  question: str
          out answer: str
        }}
        ''') + textwrap.dedent(body)


GOOD = '''
module Direct(x: int) -> (total: int, found: list[str]) {
  return (total: Calc.add(a: x, b: 2), found: Calc.lookup(topic: "cats"))
}

module Agent(question: str) -> (answer: str) {
  let agent = ReAct(Question, tools: [Calc], max_iters: 3)
  return agent(question: question)
}
'''

BAD = '''
module Wrong(x: int) -> (total: str) {
  a = Calc.add(a: x, b: "two")
  b = Calc.nope(x: 1)
  return (total: Calc.add(a: 1, b: 2))
}
'''

FINAL = "[[ ## reasoning ## ]]\nadded\n\n[[ ## answer ## ]]\n5\n\n[[ ## completed ## ]]"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp")
    (root / "server.py").write_text(SERVER, encoding="utf-8")
    command = f"{shlex.quote(sys.executable)} server.py"
    (root / "agent.lmp").write_text(program_text(command, GOOD), encoding="utf-8")
    (root / "bad.lmp").write_text(program_text(command, BAD), encoding="utf-8")
    yield root, command
    mcp_tools.close_all()


def codes(path: Path) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in load_program(path).diagnostics]


def starts(root: Path) -> int:
    log = root / "started.log"
    return len(log.read_text().split()) if log.exists() else 0


def test_check_never_starts_the_server_and_names_the_refresh(project):
    root, _ = project
    diags = load_program(root / "agent.lmp").diagnostics
    assert [d.code for d in diags] == ["E046"]
    assert "agent.mcp.json does not exist" in diags[0].message
    assert "lmp mcp refresh agent.lmp" in (diags[0].hint or "")
    assert diags[0].span.line == 1  # the declaration's command
    assert starts(root) == 0


def test_refresh_then_types_from_the_manifest(project, capsys):
    root, command = project
    assert main(["mcp", "refresh", str(root / "agent.lmp")]) == 0
    assert "Calc: 3 tool(s)" in capsys.readouterr().out
    assert starts(root) == 1  # refresh started it once and stopped it
    manifest = json.loads((root / "agent.mcp.json").read_text())
    entry = manifest["servers"]["Calc"]
    assert entry["command"] == command and set(entry["files"]) == {"server.py"}
    assert {t["name"] for t in entry["tools"]} == {"add", "lookup", "profile"}
    assert codes(root / "agent.lmp") == []
    # The other program beside it has no entry of its own manifest yet: refresh it too.
    assert main(["mcp", "refresh", str(root / "bad.lmp")]) == 0
    found = codes(root / "bad.lmp")
    assert ("E090", "argument `b` of `Calc.add` is `int`, got `\"two\"`") in found
    assert any(c == "E030" and "`nope` is not a tool of `Calc`" in m for c, m in found)
    assert any(c == "E070" for c, _ in found)  # an int returned where str is declared
    capsys.readouterr()
    assert main(["mcp", "list", str(root / "agent.lmp")]) == 0
    listing = capsys.readouterr().out
    assert "Calc.add(a: int, b: int) -> int  # Add two integers." in listing
    assert "Calc.lookup(topic: str, limit: int = …) -> list[str]" in listing
    assert "Calc.profile(name: str) -> str" in listing  # no outputSchema: the text content


def test_direct_calls_and_react_reach_one_server(project):
    root, _ = project
    before = starts(root)
    lm = FakeLM([
        # text protocol: one step calls add, the next finishes, then the extraction
        "[[ ## next_thought ## ]]\nadd them\n\n[[ ## next_tool_name ## ]]\nadd\n\n"
        '[[ ## next_tool_args ## ]]\n{"a": 2, "b": 3}\n\n[[ ## completed ## ]]',
        "[[ ## next_thought ## ]]\ndone\n\n[[ ## next_tool_name ## ]]\nfinish\n\n"
        "[[ ## next_tool_args ## ]]\n{}\n\n[[ ## completed ## ]]",
        FINAL,
    ], history=History())
    settings.configure(lm=lm, history=lm.history)
    loaded = load_program(root / "agent.lmp")
    assert not loaded.errors
    interp = Interpreter(loaded.program)
    assert interp.run("Direct", {"x": 40}).model_dump() == {"total": 42, "found": ["cats 0", "cats 1"]}
    assert interp.run("Agent", {"question": "2+3?"})["answer"] == "5"
    system = lm.calls[0]["messages"][0]["content"]
    assert "`add(a: int, b: int)`: Add two integers." in system and "`lookup(topic: str, limit: int)`" in system
    assert "observation_0: 5" in lm.calls[2]["messages"][-1]["content"]
    # Native protocol: both calls of one turn go to the server; its own schemas are the definitions.
    native = FakeLM([LMResponse("", "fake", tool_calls=[
        {"id": "c1", "name": "add", "arguments": '{"a": 1, "b": 1}'},
        {"id": "c2", "name": "lookup", "arguments": '{"topic": "dogs", "limit": 1}'},
        {"id": "c3", "name": "add", "arguments": '{"a": "x", "b": 1}'}]),
        LMResponse("done", "fake"), FINAL], tool_calls="native", history=History())
    settings.configure(lm=native, history=native.history)
    assert Interpreter(loaded.program).run("Agent", {"question": "?"})["answer"] == "5"
    defs = {t["function"]["name"]: t["function"] for t in native.calls[0]["params"]["tools"]}
    assert defs["add"]["parameters"] == {"type": "object", "properties": {"a": {"type": "integer"},
                                                                          "b": {"type": "integer"}},
                                         "required": ["a", "b"]}
    assert defs["add"]["description"] == "Add two integers."
    results = [m["content"] for m in native.calls[1]["messages"] if m["role"] == "tool"]
    assert results[:2] == ["2", '["dogs 0"]']
    assert results[2].startswith("error:") and "argument `a`" in results[2]  # checked before the server is asked
    assert starts(root) == before + 1  # one server for the whole process


def test_a_changed_script_or_command_is_noticed(project, tmp_path):
    root, command = project
    copy = tmp_path / "agent.lmp"
    copy.write_text((root / "agent.lmp").read_text(), encoding="utf-8")
    (tmp_path / "agent.mcp.json").write_text((root / "agent.mcp.json").read_text(), encoding="utf-8")
    (tmp_path / "server.py").write_text(SERVER.replace("Add two integers.", "Add two numbers."), encoding="utf-8")
    found = codes(copy)
    assert [c for c, _ in found] == ["W112"] and "server.py changed" in found[0][1]
    copy.write_text(copy.read_text().replace("server.py", "server.py --verbose"), encoding="utf-8")
    found = codes(copy)
    assert [c for c, _ in found] == ["E046"] and "was made for `Calc` started as" in found[0][1]


def test_schema_types():
    from lmp.ir.mcp_manifest import output_type, schema_type

    assert schema_type({"type": "string", "enum": ["a", "b"]}).render() == '"a" | "b"'
    assert schema_type({"anyOf": [{"type": "integer"}, {"type": "null"}]}).render() == "int?"
    assert schema_type({"type": ["number", "null"]}).render() == "float?"
    assert schema_type({"type": "object", "additionalProperties": {"type": "boolean"}}).render() == "dict[str, bool]"
    rec = schema_type({"type": "object", "properties": {"x": {"type": "integer"}, "y": {"$ref": "#/$defs/Y"}},
                       "required": ["x"], "$defs": {"Y": {"type": "array", "items": {"type": "string"}}}})
    assert rec.render() == "(x: int, y: list[str]?)"
    assert output_type(None)[0].render() == "str"
    assert output_type({"type": "object", "properties": {"result": {"type": "integer"}}, "required": ["result"]}) \
        [0].render() == "int"
