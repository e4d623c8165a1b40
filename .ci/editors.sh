#!/usr/bin/env bash
# Editor tooling tests (editors/vscode, editors/vim): installs what they need, then runs them.
#
#   bash .ci/editors.sh            install (idempotent, fast when already done) + run all editor tests
#   bash .ci/editors.sh --install  install only (used by .ci/run before the test suite; the tests never install)
#
# Needs: apt-get (neovim, chromium, ripgrep), node 20 + npm (npm ci in editors/vscode), and code-server 4.100.3
# installed with .ci/setup-code-server.sh into a cache folder outside the repo
# ($LMP_EDITORS_CACHE, default ~/.cache/lmp-editors). Artifacts (screenshot, result) go to .ci/artifacts/.
# Exits non-zero if any install step or test fails.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXT=$ROOT/editors/vscode
CACHE=${LMP_EDITORS_CACHE:-$HOME/.cache/lmp-editors}
export LMP_EDITORS_CACHE=$CACHE
CODE_SERVER_DIR=${CODE_SERVER_DIR:-$CACHE/code-server}
export CODE_SERVER_DIR
mkdir -p "$CACHE" "$ROOT/.ci/artifacts"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "[editors] $*"; }

# ---------------------------------------------------------------- install
install() {
  local t
  t=$(now)
  local need=()
  command -v nvim >/dev/null || need+=(neovim)
  command -v chromium >/dev/null || need+=(chromium)
  command -v rg >/dev/null || need+=(ripgrep)   # VS Code's search and npm extension spawn it
  if ((${#need[@]})); then
    if ! command -v apt-get >/dev/null; then
      say "cannot install ${need[*]}: no apt-get"; return 1
    fi
    say "apt-get install ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") \
      >"$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log"; say "apt-get install failed"; return 1; }
  fi
  say "apt: ok ($(secs "$t")s)"

  t=$(now)
  command -v npm >/dev/null || { say "cannot install the VS Code extension's packages: no npm"; return 1; }
  local lock_sum stamp=$EXT/node_modules/.lmp-lock.sha256
  lock_sum=$(sha256sum "$EXT/package-lock.json" | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$lock_sum" ]]; then
    say "npm ci in editors/vscode"
    (cd "$EXT" && npm ci --no-audit --no-fund --loglevel=error) || { say "npm ci failed"; return 1; }
    echo "$lock_sum" >"$stamp"
  fi
  say "npm: ok ($(secs "$t")s)"

  t=$(now)
  if [[ ! -f $CODE_SERVER_DIR/.lmp-setup-done ]]; then
    say "installing code-server into $CODE_SERVER_DIR"
    nice -n 10 bash "$ROOT/.ci/setup-code-server.sh" "$CODE_SERVER_DIR" >"$CACHE/code-server-setup.log" 2>&1 \
      || { tail -30 "$CACHE/code-server-setup.log"; say "code-server setup failed"; return 1; }
  fi
  local rgdir=$CODE_SERVER_DIR/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin
  if [[ ! -e $rgdir/rg ]] && command -v rg >/dev/null; then
    mkdir -p "$rgdir" && ln -sfn "$(command -v rg)" "$rgdir/rg"
  fi
  say "code-server: ok ($(secs "$t")s)"
}

if ! install; then
  say "install failed"
  exit 2
fi
[[ ${1:-} == --install ]] && exit 0

# ---------------------------------------------------------------- tests
passed=0 failed=0 failures=()
run() {
  local name=$1; shift
  local t; t=$(now)
  if (cd "$ROOT" && "$@") >"$ROOT/.ci/artifacts/editors-$name.log" 2>&1; then
    passed=$((passed + 1)); say "PASS $name ($(secs "$t")s)"
  else
    failed=$((failed + 1)); failures+=("$name"); say "FAIL $name ($(secs "$t")s)"
    sed 's/^/    /' "$ROOT/.ci/artifacts/editors-$name.log" | tail -40
  fi
}

run grammar-fresh python3 editors/vscode/syntaxes/build_grammar.py --check
run typecheck bash -c 'cd editors/vscode && npx tsc --noEmit -p .'
run grammar-tests bash -c 'cd editors/vscode && npx vscode-tmgrammar-test "test/grammar/*.lmp"'
run nvim-syntax nvim --headless -u NONE -i NONE --cmd 'set rtp^=editors/vim' -c 'luafile tests/editors/nvim_syntax_test.lua'
run vsix bash -c 'cd editors/vscode && npm run -s package </dev/null'
# `lmp` for the server tests: $LMP_COMMAND, PATH, or beside $PYTHON / python3.
PY=${PYTHON:-$(command -v python3 || command -v python)}
LMP=${LMP_COMMAND:-$(command -v lmp || true)}
if [[ -z $LMP && -x $(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/lmp ]]; then
  LMP=$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/lmp
fi
[[ -n $LMP ]] && export LMP_COMMAND=$LMP
if [[ -n $LMP ]] && "$LMP" lsp --help >/dev/null 2>&1; then
  run nvim-lsp env LMP_NVIM_FIXTURE=editors/vscode/test/workspace/broken.lmp \
    nvim --headless -u NONE -i NONE --cmd 'set rtp^=editors/vim' -c 'luafile tests/editors/nvim_lsp_test.lua'
elif [[ -f $ROOT/src/lmp/lsp/server.py && -z ${LMP_ALLOW_SKIP_SERVER:-} ]]; then
  failed=$((failed + 1)); failures+=(nvim-lsp)
  say "FAIL nvim-lsp: src/lmp/lsp/server.py exists but \`lmp lsp\` cannot run (lmp: ${LMP:-not found}); pip install -e . first"
else
  say "SKIPPED nvim-lsp: \`lmp lsp\` is not available (lmp: ${LMP:-not on PATH})"
fi
# The real server: `lmp` from PATH (or $LMP_COMMAND); its checks are reported SKIPPED while `lmp lsp` does not exist.
run vscode node editors/vscode/test/run-vscode-test.mjs
grep -E '^\s+(PASS|FAIL|SKIPPED) ' "$ROOT/.ci/artifacts/editors-vscode.log" || true
# The client against a stub speaking the documented contract (needs pygls in $PYTHON).
# Prefer the interpreter that runs `lmp` (its shebang), which has pygls whenever lmp is installed.
if [[ -z ${PYTHON:-} && -n $LMP ]] && head -c 2 "$LMP" | grep -q '#!'; then
  shebang=$(head -1 "$LMP" | sed 's/^#![[:space:]]*//' | cut -d' ' -f1)
  [[ -x $shebang && $(basename "$shebang") == python* ]] && PY=$shebang
fi
if "$PY" -c 'import pygls, lsprotocol' 2>/dev/null; then
  run vscode-stub env LMP_STUB_PYTHON="$PY" node editors/vscode/test/run-vscode-test.mjs --stub
else
  say "SKIPPED vscode-stub: pygls is not importable by $PY (pip install -e .)"
fi

echo "editors: $passed passed, $failed failed"
((failed == 0)) || { say "failed: ${failures[*]}"; exit 1; }
