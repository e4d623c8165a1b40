-- lmp language server for Neovim 0.7 and later: require('lmp.lsp').setup({ cmd = { 'lmp', 'lsp', '--stdio' } })
-- Uses only APIs present since 0.7 (vim.lsp.start_client, buf_attach_client, nvim_create_autocmd), not
-- vim.lsp.start (0.8) or vim.fs.root (0.10). One client per project root (the nearest folder with
-- pyproject.toml or .git above the file, else the current directory), shared by the buffers under it.
local M = {}

local clients = {} -- root_dir -> client id

local function root_of(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= '' and vim.fn.fnamemodify(name, ':p:h') or vim.fn.getcwd()
  for _, marker in ipairs({ 'pyproject.toml', '.git' }) do
    local found = vim.fn.findfile(marker, dir .. ';')
    if found == '' then
      found = vim.fn.finddir(marker, dir .. ';')
    end
    if found ~= '' then
      local root = vim.fn.fnamemodify(found, ':p:h'):gsub('/%.git/?$', '')
      return root
    end
  end
  return vim.fn.getcwd()
end

function M.attach(bufnr, opts)
  opts = opts or {}
  local root = opts.root_dir or root_of(bufnr)
  local id = clients[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client({
      name = 'lmp',
      cmd = opts.cmd or { 'lmp', 'lsp', '--stdio' },
      root_dir = root,
      on_attach = opts.on_attach,
      capabilities = opts.capabilities,
      init_options = opts.init_options,
    })
    if not id then
      vim.notify('lmp: could not start `' .. table.concat(opts.cmd or { 'lmp' }, ' ') .. '`', vim.log.levels.ERROR)
      return nil
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

function M.setup(opts)
  local group = vim.api.nvim_create_augroup('lmp_lsp', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = 'lmp',
    callback = function(args) M.attach(args.buf, opts) end,
  })
end

return M
