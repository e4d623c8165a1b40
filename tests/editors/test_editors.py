"""Editor tooling tests, each run as a subprocess: the TextMate grammar (vscode-tmgrammar-test), the extension's
type check and .vsix package, the Vim syntax in headless Neovim, and the extension in a real VS Code
(code-server + headless chromium, see editors/vscode/test/run-vscode-test.mjs).

The tests never install anything: `bash .ci/editors.sh --install` does (apt neovim/chromium/ripgrep, `npm ci` in
editors/vscode, code-server via .ci/setup-code-server.sh). A test whose tool is absent skips with the remedy, or
fails under LMP_CI=1, which .ci/run sets after installing everything (see tests/tooling.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tooling import missing

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "editors" / "vscode"
ARTIFACTS = ROOT / ".ci" / "artifacts" / "vscode"


def _run(cmd: list[str], *, cwd: Path = ROOT, timeout: float = 300, env: dict | None = None):
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def _explain(r: subprocess.CompletedProcess) -> str:
    return f"exit {r.returncode}\n--- stdout ---\n{r.stdout[-6000:]}\n--- stderr ---\n{r.stderr[-4000:]}"


def _need_apt_tool(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        missing(f"{tool} is not installed", f"apt-get install -y {package} (or bash .ci/editors.sh --install)")


def _need_node_modules() -> None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed", "install Node 20 and npm (Debian: apt-get install -y nodejs npm)")
    if not (EXT / "node_modules" / ".bin" / "vscode-tmgrammar-test").exists():
        missing("editors/vscode/node_modules is not installed",
                "cd editors/vscode && npm ci (or bash .ci/editors.sh --install)")


def _code_server_dir() -> Path:
    # The same defaults as .ci/editors.sh and editors/vscode/test/run-vscode-test.mjs.
    if os.environ.get("CODE_SERVER_DIR"):
        return Path(os.environ["CODE_SERVER_DIR"])
    cache = os.environ.get("LMP_EDITORS_CACHE") or str(Path.home() / ".cache" / "lmp-editors")
    return Path(cache) / "code-server"


def _need_code_server() -> None:
    where = _code_server_dir()
    # .ci/setup-code-server.sh writes this last, after the native modules are built.
    if not (where / ".lmp-setup-done").exists():
        missing(f"code-server is not installed in {where} (no finished .ci/setup-code-server.sh run)",
                "bash .ci/editors.sh --install (installs it with .ci/setup-code-server.sh; ~1 GB, 10+ min)")


def test_grammar_json_matches_its_source():
    r = _run([sys.executable, str(EXT / "syntaxes" / "build_grammar.py"), "--check"])
    assert r.returncode == 0, _explain(r)


def test_textmate_grammar():
    _need_node_modules()
    r = _run([str(EXT / "node_modules" / ".bin" / "vscode-tmgrammar-test"), "test/grammar/*.lmp"], cwd=EXT)
    assert r.returncode == 0, _explain(r)
    assert "run successfuly" in r.stdout, _explain(r)  # (sic) the tool's own spelling


def test_extension_typechecks_and_packages():
    _need_node_modules()
    r = _run([str(EXT / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", "."], cwd=EXT)
    assert r.returncode == 0, _explain(r)
    r = _run(["npm", "run", "-s", "package"], cwd=EXT)
    assert r.returncode == 0, _explain(r)
    vsix = EXT / "out" / "lmp.vsix"
    assert vsix.exists() and vsix.stat().st_size > 10_000


def test_neovim_syntax():
    _need_apt_tool("nvim", "neovim")
    r = _run(
        [
            "nvim",
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "--cmd",
            f"set rtp^={ROOT / 'editors' / 'vim'}",
            "-c",
            f"luafile {ROOT / 'tests' / 'editors' / 'nvim_syntax_test.lua'}",
        ],
        env={"LMP_NVIM_FIXTURE": str(ROOT / "tests" / "editors" / "fixtures" / "sample.lmp")},
        timeout=60,
    )
    assert r.returncode == 0, _explain(r)
    assert "0 failed" in r.stdout, _explain(r)


SERVER_IN_TREE = (ROOT / "src" / "lmp" / "lsp" / "server.py").exists()


def _lmp_lsp_or_skip() -> str:
    """`lmp` with a working `lsp` subcommand. Skips only while the server is not in the source tree."""
    lmp = _lmp_command()
    why = None
    if not lmp:
        why = "`lmp` is not installed (pip install -e .)"
    else:
        r = _run([lmp, "lsp", "--help"], timeout=60)
        if r.returncode != 0:
            why = f"`{lmp} lsp --help` failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}"
    if why:
        if SERVER_IN_TREE and not os.environ.get("LMP_ALLOW_SKIP_SERVER"):
            pytest.fail(f"src/lmp/lsp/server.py exists but {why}")
        pytest.skip(why)
    return lmp


def _readme_lua_snippets() -> list[str]:
    text = (ROOT / "editors" / "vim" / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```lua\n(.*?)```", text, re.DOTALL)


def _nvim_version() -> tuple[int, ...]:
    r = _run(["nvim", "--version"], timeout=30)
    m = re.search(r"NVIM v(\d+)\.(\d+)", r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


@pytest.mark.parametrize("which", [0, 1, 2], ids=["first-snippet-module", "second-snippet-inline", "third-0.10"])
def test_neovim_lsp_snippet(which: int, tmp_path: Path):
    """The README's snippets attach `lmp lsp` in headless Neovim: diagnostics and hover. The first two must
    work on Debian's Neovim 0.7.2; the third (`vim.lsp.start`, `vim.fs.root`) needs 0.10."""
    _need_apt_tool("nvim", "neovim")
    lmp = _lmp_lsp_or_skip()
    snippets = _readme_lua_snippets()
    assert len(snippets) >= 3, "editors/vim/README.md lost a Lua snippet"
    if which == 2 and _nvim_version() < (0, 10):
        pytest.skip(f"the vim.lsp.start snippet needs Neovim 0.10 (this is {_nvim_version()})")
    snippet = tmp_path / "snippet.lua"
    snippet.write_text(snippets[which], encoding="utf-8")
    r = _run(
        [
            "nvim",
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "--cmd",
            f"set rtp^={ROOT / 'editors' / 'vim'}",
            "-c",
            f"luafile {ROOT / 'tests' / 'editors' / 'nvim_lsp_test.lua'}",
        ],
        env={"LMP_COMMAND": lmp, "LMP_SNIPPET": str(snippet),
             "LMP_NVIM_FIXTURE": str(EXT / "test" / "workspace" / "broken.lmp")},
        timeout=90,
    )
    assert r.returncode == 0, _explain(r)
    assert "0 failed" in r.stdout, _explain(r)


def _lmp_command() -> str | None:
    found = shutil.which("lmp")
    if found:
        return found
    beside = Path(sys.executable).parent / "lmp"
    return str(beside) if beside.exists() else None


@pytest.fixture(scope="session")
def vscode_run():
    _need_apt_tool("chromium", "chromium")
    _need_node_modules()
    _need_code_server()
    env = {"ARTIFACTS_DIR": str(ARTIFACTS)}
    lmp = _lmp_command()
    if lmp:
        env["LMP_COMMAND"] = lmp
    result_file = ARTIFACTS / "result.json"
    result_file.unlink(missing_ok=True)
    r = _run(["node", str(EXT / "test" / "run-vscode-test.mjs")], env=env, timeout=300)
    result = json.loads(result_file.read_text()) if result_file.exists() else None
    return r, result


def test_vscode_extension_in_code_server(vscode_run):
    r, result = vscode_run
    assert r.returncode == 0, _explain(r)
    assert result is not None and result["status"] == "PASS", _explain(r)
    failed = [c for c in result["checks"] if c["status"] == "FAIL"]
    assert not failed, json.dumps(failed, indent=2)
    assert (ARTIFACTS / "preview-panel.png").exists()
    # the playground's screenshots: a module run from its lens, and the Testing view after a run
    for shot in ("run-panel.png", "testing-view.png"):
        assert (ARTIFACTS / shot).exists() and (ARTIFACTS / shot).stat().st_size > 10_000, shot
    # Details name workspace files relative to the workspace, not by the runner's temporary absolute path.
    absolute = [c["detail"] for c in result["checks"] if "/ws/" in c["detail"]]
    assert not absolute, absolute


def test_vscode_client_against_stub_server(tmp_path):
    """The client's server features (diagnostics, hover, code lens, preview panel + refresh, output schema) against
    a stub that speaks only the documented contract (editors/vscode/test/stub-server/lmp_stub.py)."""
    _need_apt_tool("chromium", "chromium")
    _need_node_modules()
    _need_code_server()
    probe = _run([sys.executable, "-c", "import pygls, lsprotocol"])
    if probe.returncode != 0:
        missing(f"pygls is not importable by {sys.executable}", "pip install -e . (the stub server needs it)")
    artifacts = ROOT / ".ci" / "artifacts" / "vscode-stub"
    (artifacts / "result.json").unlink(missing_ok=True)
    r = _run(
        ["node", str(EXT / "test" / "run-vscode-test.mjs"), "--stub"],
        env={"LMP_STUB_PYTHON": sys.executable, "ARTIFACTS_DIR": str(artifacts)},
        timeout=180,
    )
    assert r.returncode == 0, _explain(r)
    result = json.loads((artifacts / "result.json").read_text())
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert set(statuses.values()) == {"PASS"}, json.dumps(result["checks"], indent=2)
    assert len(statuses) >= 9, statuses


def test_vscode_language_server_features(vscode_run):
    """Diagnostics, hover, code lens, prompt preview and output schema through `lmp lsp` in VS Code."""
    r, result = vscode_run
    assert result is not None, _explain(r)
    skipped = [c for c in result["checks"] if c["status"] == "SKIPPED"]
    failed = [c for c in result["checks"] if c["status"] == "FAIL"]
    assert not failed, json.dumps(failed, indent=2)
    if skipped:
        if SERVER_IN_TREE and not os.environ.get("LMP_ALLOW_SKIP_SERVER"):
            pytest.fail(
                f"server checks skipped although src/lmp/lsp/server.py exists: {skipped[0]['detail']}"
            )
        pytest.skip(f"{len(skipped)} server checks skipped: {skipped[0]['detail']}")
    names = {c["name"] for c in result["checks"] if c["status"] == "PASS"}
    assert any("diagnostics" in n for n in names) and any("preview" in n for n in names), names
    for part in ("▶ Run on a module", "Testing view", "restored after a window reload", '"Run module" goes through'):
        assert any(part in n for n in names), (part, names)
