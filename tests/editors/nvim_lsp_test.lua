-- Headless Neovim 0.7+ test of a README snippet (editors/vim/README.md) against `lmp lsp`.
-- Env: LMP_COMMAND (absolute path of lmp), LMP_SNIPPET (a file holding the snippet's Lua),
-- LMP_NVIM_FIXTURE (a .lmp file with an error on a `Strng` type).
local lmp = assert(os.getenv('LMP_COMMAND'), 'LMP_COMMAND is not set')
local fixture = assert(os.getenv('LMP_NVIM_FIXTURE'), 'LMP_NVIM_FIXTURE is not set')
local failures, passed = {}, 0
local function check(name, ok, detail)
  if ok then
    passed = passed + 1
    io.stdout:write('PASS ' .. name .. (detail and (' — ' .. detail) or '') .. '\n')
  else
    table.insert(failures, name)
    io.stdout:write('FAIL ' .. name .. (detail and (' — ' .. detail) or '') .. '\n')
  end
end

vim.cmd('filetype plugin on')
vim.cmd('syntax on')

-- A snippet of editors/vim/README.md (the file LMP_SNIPPET), run as written except that the `lmp` of
-- its cmd becomes LMP_COMMAND (the lmp under test).
local snippet_path = assert(os.getenv('LMP_SNIPPET'), 'LMP_SNIPPET is not set')
local fh = assert(io.open(snippet_path, 'r'))
local code = fh:read('*a')
fh:close()
local replaced
code, replaced = code:gsub("{ 'lmp', 'lsp', '%-%-stdio' }", "{ '" .. lmp .. "', 'lsp', '--stdio' }")
check('snippet names lmp lsp --stdio', replaced == 1)
local chunk, load_err = loadstring(code, '=README snippet')
check('snippet compiles', chunk ~= nil, load_err)
if chunk then
  local ok, run_err = pcall(chunk)
  check('snippet runs', ok, run_err and tostring(run_err))
end

local function lmp_client()
  for _, c in pairs(vim.lsp.get_active_clients()) do
    if c.name == 'lmp' then
      return c
    end
  end
  return nil
end

vim.cmd('edit ' .. vim.fn.fnameescape(fixture))
local buf = vim.api.nvim_get_current_buf()
check('filetype', vim.bo.filetype == 'lmp', vim.bo.filetype)
check('client started', vim.wait(5000, function() return lmp_client() ~= nil end, 50))

local got = vim.wait(15000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local diags = vim.diagnostic.get(buf)
local msgs = {}
for _, d in ipairs(diags) do
  table.insert(msgs, (d.lnum + 1) .. ':' .. (d.col + 1) .. ' ' .. d.message:gsub('\n', ' '))
end
check('diagnostics arrive', got and #diags > 0, table.concat(msgs, ' | '))

local client = lmp_client()
if client then
  -- hover on the signature name in `let answer = Predict(Answer)` or its declaration
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local pos
  for i, l in ipairs(lines) do
    local c = l:find('signature%s+%w')
    if c then
      pos = { line = i - 1, character = l:find('%w', c + #'signature') + 1 }
      break
    end
  end
  local res = pos and client.request_sync('textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = pos,
  }, 10000, buf)
  local contents = res and res.result and res.result.contents
  local text = contents and (type(contents) == 'string' and contents or contents.value or vim.inspect(contents))
  check('hover', text ~= nil and #text > 0, text and text:gsub('\n', ' '):sub(1, 120))
  client.stop()
else
  check('hover', false, 'no client')
end

io.stdout:write(string.format('nvim lsp: %d passed, %d failed\n', passed, #failures))
if #failures > 0 then
  vim.cmd('cquit 1')
else
  vim.cmd('qall!')
end
