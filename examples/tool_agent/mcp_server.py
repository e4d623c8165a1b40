"""The tool_agent's two payroll tools served over MCP (stdio), for `tool Payroll = mcp(...)`.

    lmp mcp refresh examples/tool_agent/tool_agent.lmp   # starts this once, records its tools
    lmp run examples/tool_agent/tool_agent.lmp PayrollAgentMCP -i question="..."

Needs the `mcp` package (pip install 'lmp[mcp]'). The tools are the same functions as tools.py's,
so the Python and the MCP agent see the same names, types and descriptions.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tools import overtime_pay, search_faq  # noqa: E402 - after the path above

app = MCPServer("payroll")
app.tool(description="look up the payroll FAQ entry that best matches the query")(search_faq)
app.tool(description="overtime pay for extra hours at 1.5x the hourly rate")(overtime_pay)

if __name__ == "__main__":
    app.run()
