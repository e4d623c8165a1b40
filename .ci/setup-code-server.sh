#!/usr/bin/env bash
# Installs code-server (the VS Code the extension tests run in) into DEST from the npm registry only.
#
#   bash .ci/setup-code-server.sh DEST
#
# code-server 4.100.3 is VS Code 1.100.3 and runs on Node 20. Its npm install scripts would download
# prebuilt binaries (ripgrep, argon2) from GitHub, so they are skipped (--ignore-scripts) and the native
# modules are compiled here instead, against the Node headers Debian's nodejs ships in /usr/include/node
# (node-gyp from Debian's npm). Takes ~10 min on 2 cores and ~1 GB; used by .ci/editors.sh --install.
set -euo pipefail
VERSION=${CODE_SERVER_VERSION:-4.100.3}
DEST=${1:?usage: setup-code-server.sh DEST}
JOBS=${JOBS:-2}
say() { echo "[setup-code-server] $*"; }
die() { echo "[setup-code-server] error: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (Debian: apt-get install -y nodejs npm)"
command -v npm >/dev/null || die "npm is not installed (Debian: apt-get install -y npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[[ $node_major == 20 ]] || say "warning: code-server $VERSION is built for Node 20, this is Node $node_major"
GYP=""
for g in "$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js" \
         /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js \
         /usr/share/nodejs/node-gyp/bin/node-gyp.js; do
  [[ -f $g ]] && { GYP=$g; break; }
done
[[ -n $GYP ]] || die "node-gyp not found (it comes with npm; Debian: apt-get install -y node-gyp)"
NODEDIR=${NODEDIR:-/usr}
[[ -f $NODEDIR/include/node/node_api.h ]] || die "Node headers not found in $NODEDIR/include/node (Debian: apt-get install -y libnode-dev), or set NODEDIR"

gyp_build() {  # gyp_build DIR [extra node-gyp flags...]: compile one native module in place
  local dir=$1; shift
  say "compiling $(basename "$dir")"
  (cd "$dir" && node "$GYP" rebuild --nodedir="$NODEDIR" -j "$JOBS" "$@" >/dev/null) || die "node-gyp failed in $dir"
}
npm_quiet() { npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$@"; }

mkdir -p "$DEST"
cd "$DEST"
rm -f .lmp-setup-done
[[ -f package.json ]] || printf '{ "name": "lmp-code-server", "private": true }\n' >package.json
say "npm install code-server@$VERSION into $DEST"
npm_quiet "code-server@$VERSION"
VS=$DEST/node_modules/code-server/lib/vscode
[[ -d $VS ]] || die "code-server@$VERSION has no lib/vscode: not the expected package layout"

say "VS Code's own dependencies"
(cd "$VS" && npm_quiet --omit=dev)
(cd "$VS/extensions" && npm_quiet --omit=dev && node postinstall.mjs >/dev/null)

for m in node-pty @parcel/watcher @vscode/spdlog native-watchdog @vscode/deviceid; do
  gyp_build "$VS/node_modules/$m"
done
# argon2 (password hashing, loaded at start-up even with --auth none) looks for its binary where its
# prebuild would have gone.
gyp_build "$DEST/node_modules/argon2" --module_name=argon2 --module_path="$DEST/node_modules/argon2/lib/binding/napi-v3" \
  --napi_build_version=3

# Links the packaged product has and the npm layout lacks.
ln -sfn node_modules "$VS/node_modules.asar"
ln -sfn code-linux.sh "$VS/bin/remote-cli/code-server"
ln -sfn browser-linux.sh "$VS/bin/helpers/browser.sh"
# VS Code's search spawns ripgrep from @vscode/ripgrep, whose download was skipped: use the system's.
if command -v rg >/dev/null; then
  mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
  ln -sfn "$(command -v rg)" "$VS/node_modules/@vscode/ripgrep/bin/rg"
else
  say "warning: ripgrep (rg) is not installed: VS Code's search will not work (apt-get install -y ripgrep)"
fi
ENTRY=$DEST/node_modules/code-server/out/node/entry.js
[[ -f $ENTRY ]] || die "$ENTRY is missing after the install"
[[ -f $DEST/node_modules/argon2/lib/binding/napi-v3/argon2.node ]] || die "argon2.node was not built"
# Written last: entry.js exists as soon as npm is done, so only this file says the native modules were built
# too (an install killed while compiling must not pass for a finished one).
echo "$VERSION" >"$DEST/.lmp-setup-done"
say "ready: node $ENTRY"
