"""A real third-party client: headless Neovim (Debian's 0.7.2) attaches `lmp lsp` to an .lmp buffer;
the diagnostics and a hover must arrive.

Install: `apt-get install -y neovim`. Skipped (with the reason) only when `nvim` is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.lsp.conftest import PROGRAM

NVIM = shutil.which("nvim")

LUA = r"""
local out_path = vim.env.LMP_NVIM_OUT
local result = { diagnostics = {}, hover = nil, error = nil }
local ok, err = pcall(function()
  local client_id = vim.lsp.start_client({
    cmd = { vim.env.LMP_PYTHON, "-m", "lmp", "lsp", "--stdio" },
    root_dir = vim.env.LMP_ROOT,
    name = "lmp",
  })
  assert(client_id, "start_client failed")
  vim.cmd("edit " .. vim.fn.fnameescape(vim.env.LMP_FILE))
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].filetype = "lmp"
  vim.lsp.buf_attach_client(buf, client_id)
  local got = vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  assert(got, "no diagnostics within 20 s")
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(result.diagnostics, { lnum = d.lnum, col = d.col, message = d.message, code = d.code,
                                       severity = d.severity, source = d.source })
  end
  local client = vim.lsp.get_client_by_id(client_id)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = tonumber(vim.env.LMP_HOVER_LINE), character = tonumber(vim.env.LMP_HOVER_COL) },
  }
  local resp = client.request_sync("textDocument/hover", params, 10000, buf)
  assert(resp and not resp.err, "hover failed: " .. vim.inspect(resp))
  result.hover = resp.result and resp.result.contents and resp.result.contents.value or vim.NIL
  client.stop()
end)
if not ok then result.error = tostring(err) end
local fh = io.open(out_path, "w")
fh:write(vim.fn.json_encode(result))
fh:close()
vim.cmd("qall!")
"""


@pytest.mark.skipif(NVIM is None, reason="neovim is not installed (apt-get install -y neovim)")
def test_neovim_gets_diagnostics_and_hover(tmp_path):
    text = PROGRAM.replace("out confidence: float", "out confidence: flaot")
    src = tmp_path / "events.lmp"
    src.write_text(text)
    script = tmp_path / "drive.lua"
    script.write_text(LUA)
    out = tmp_path / "result.json"
    hover_at = text.index("ClassifyEvent {")
    line = text.count("\n", 0, hover_at)
    col = hover_at - (text.rfind("\n", 0, hover_at) + 1) + 2
    env = {
        "LMP_NVIM_OUT": str(out), "LMP_PYTHON": sys.executable, "LMP_ROOT": str(tmp_path),
        "LMP_FILE": str(src), "LMP_HOVER_LINE": str(line), "LMP_HOVER_COL": str(col),
        "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    import os

    for key in ("PYTHONPATH", "VIRTUAL_ENV"):
        if key in os.environ:
            env[key] = os.environ[key]
    proc = subprocess.run([NVIM, "--headless", "--clean", "-u", "NONE", "-c", f"luafile {script}"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert out.exists(), f"neovim wrote no result; stderr: {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result.get("error") in (None, ""), result
    diags = result["diagnostics"]
    assert any(d["code"] == "E010" and "flaot" in d["message"] for d in diags), diags
    d = next(d for d in diags if d["code"] == "E010")
    assert (d["lnum"], d["col"]) == (text[: text.index("flaot")].count("\n"),
                                      text.index("flaot") - (text.rfind("\n", 0, text.index("flaot")) + 1))
    assert "Classify historic events." in result["hover"]
