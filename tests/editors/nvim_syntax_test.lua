-- Headless Neovim (0.7+) syntax test for editors/vim/syntax/lmp.vim.
-- Run: nvim --headless -u NONE -i NONE --cmd "set rtp^=editors/vim" -c "luafile tests/editors/nvim_syntax_test.lua"
-- Env LMP_NVIM_FIXTURE: the .lmp file (default tests/editors/fixtures/sample.lmp).
local fixture = os.getenv('LMP_NVIM_FIXTURE') or 'tests/editors/fixtures/sample.lmp'

-- { text on the line (plain), token (plain, first occurrence at or after the line text), expected group }
local cases = {
  { "# comments start", "comments", "lmpComment" },
  { "type Category", "type", "lmpDeclaration" },
  { "type Category", "Category", "lmpDeclName" },
  { "type Category", "Wars and", "lmpEnumMember" },
  { "type Category", "|", "lmpUnionBar" },
  { "| \"Exploration", "Exploration", "lmpEnumMember" },
  { "title: str", "title", "lmpFieldName" },
  { "title: str", "str", "lmpBuiltinType" },
  { "title: str", "the paper", "lmpString" },
  { "year: int?", "int", "lmpBuiltinType" },
  { "signature ClassifyEvent", "signature", "lmpDeclaration" },
  { "signature ClassifyEvent", "ClassifyEvent", "lmpDeclName" },
  { '"""Classify', "Classify", "lmpDocstring" },
  { "in  event", "in", "lmpFieldMarker" },
  { "in  event", "event", "lmpFieldName" },
  { "in  event", "str", "lmpBuiltinType" },
  { "out category", "out", "lmpFieldMarker" },
  { "out category", "category", "lmpFieldName" },
  { "out category", "Category", "lmpTypeName" },
  { "out confidence", "float", "lmpBuiltinType" },
  { "out confidence", "between", "lmpString" },
  { "signature GenerateQuery", "context", "lmpInlineField" },
  { "signature GenerateQuery", "->", "lmpArrow" },
  { "signature GenerateQuery", "list", "lmpBuiltinType" },
  { "module MultiHopQA", "module", "lmpDeclaration" },
  { "module MultiHopQA", "MultiHopQA", "lmpDeclName" },
  { "let gen_query", "let", "lmpDeclaration" },
  { "let gen_query", "Predict", "lmpPredictor" },
  { "let gen_query", "GenerateQuery", "lmpTypeName" },
  { "context: list[str] = []", "context", "lmpFieldName" },
  { "for hop in", "for", "lmpRepeat" },
  { "for hop in", " in ", "lmpOperatorWord", 1 },
  { "for hop in", "range", "lmpBuiltinFunc" },
  { "for hop in", "2", "lmpNumber" },
  { "if q.query", "if", "lmpConditional" },
  { "if q.query", "==", "lmpOperator" },
  { "if q.query", "and", "lmpOperatorWord" },
  { "if q.query", "not", "lmpOperatorWord" },
  { "return (answer", "return", "lmpStatement" },
  { "model default", "model", "lmpDeclaration" },
  { "model default", "openai", "lmpString" },
  { "model default", "0.0", "lmpFloat" },
  { "model tuned", "1e-3", "lmpFloat" },
  { "example ClassifyEvent as", " as ", "lmpInclude", 1 },
  { "example ClassifyEvent as", "ClassifyEvent", "lmpDeclName" },
  { "event: join", "join", "lmpBuiltinFunc" },
  { "test battle for", "test", "lmpDeclaration" },
  { "test battle for", "battle", "lmpDeclName" },
  { "test battle for", "ClassifyEvent", "lmpTypeName" },
  { "expect category ==", "expect", "lmpAssert" },
  { "check category contains", "check", "lmpAssert" },
  { "check category contains", "contains", "lmpOperatorWord" },
}

vim.cmd('filetype plugin on')
vim.cmd('syntax on')
vim.cmd('edit ' .. vim.fn.fnameescape(fixture))

local failures, passed = {}, 0
local ft = vim.bo.filetype
if ft ~= 'lmp' then
  table.insert(failures, 'filetype is "' .. ft .. '", expected "lmp" (ftdetect)')
end
local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
for _, case in ipairs(cases) do
  local needle, token, want, shift = case[1], case[2], case[3], case[4] or 0
  local lnum, col
  for i, l in ipairs(lines) do
    local s = l:find(needle, 1, true)
    if s then
      local c = l:find(token, s, true)
      if c then
        lnum, col = i, c + shift
        break
      end
    end
  end
  if not lnum then
    table.insert(failures, string.format('fixture has no line with %q and token %q', needle, token))
  else
    local got = vim.fn.synIDattr(vim.fn.synID(lnum, col, 1), 'name')
    if got == want then
      passed = passed + 1
    else
      table.insert(failures, string.format('%d:%d %q in %q: got %q, want %q', lnum, col, token, needle, got, want))
    end
  end
end

for _, f in ipairs(failures) do
  io.stdout:write('FAIL ' .. f .. '\n')
end
io.stdout:write(string.format('nvim syntax: %d passed, %d failed\n', passed, #failures))
if #failures > 0 then
  vim.cmd('cquit 1')
else
  vim.cmd('qall!')
end
