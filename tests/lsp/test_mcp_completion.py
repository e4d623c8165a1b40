"""`Server.` in the editor completes an MCP server's tools from its manifest, starting nothing."""

from __future__ import annotations

import json

from lmp.lsp import features
from lmp.lsp.index import FileIndex
from lmp.project import load_text

MANIFEST = {"lmp_mcp_manifest": 1, "servers": {"Calc": {
    "command": "python never_started.py", "cwd": None, "env": [], "files": {}, "server": {}, "refreshed": "-",
    "tools": [{"name": "add", "description": "Add two integers.",
               "inputSchema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                               "required": ["a", "b"]},
               "outputSchema": {"type": "object", "properties": {"result": {"type": "integer"}},
                                "required": ["result"]}}]}}}

TEXT = '''tool Calc = mcp("python never_started.py")

module M(x: int) -> (total: int) {
  y = Calc.
  return (total: Calc.add(a: x, b: 1))
}
'''


def test_server_members_complete_from_the_manifest(tmp_path):
    (tmp_path / "agent.mcp.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    # Were the server ever started, it would leave this mark.
    (tmp_path / "never_started.py").write_text("open('started', 'w').close()\n", encoding="utf-8")
    path = str(tmp_path / "agent.lmp")
    loaded = load_text(TEXT, path)
    items = features.completions(FileIndex(loaded.program, path), TEXT, TEXT.index("Calc.\n") + len("Calc."))
    assert [(i.label, i.detail) for i in items] == [("add", "(a: int, b: int) -> int")]
    assert items[0].documentation.value == "Add two integers."
    assert not (tmp_path / "started").exists()
