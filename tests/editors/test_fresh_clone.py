"""The README's test command on a machine without the editor tooling: the editor and language-tour tests must
neither install anything nor reach outside the repository; they skip with a reason, or fail under LMP_CI=1.

The machine running this may have the tooling, so the child pytest gets a PATH with none of it (only bash and
recording stand-ins for the installers), a HOME with no code-server cache, and no shared folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ("apt-get", "apt", "sudo", "npm", "npx", "curl", "wget")


def _bare_machine(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "installer-calls.log"
    for name in INSTALLERS:
        fake = bin_dir / name
        fake.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n')
        fake.chmod(0o755)
    (bin_dir / "bash").symlink_to("/bin/bash")
    env = {k: v for k, v in os.environ.items()
           if k not in ("LMP_CI", "CODE_SERVER_DIR", "LMP_EDITORS_CACHE", "LMP_SHARED_DIR", "LMP_COMMAND")}
    env.update(PATH=str(bin_dir), HOME=str(tmp_path / "home"), LMP_SHARED_DIR=str(tmp_path / "no-shared"))
    return env, calls


def _pytest(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
         "tests/editors/test_editors.py", "tests/checker/test_language_tour.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


def test_without_tooling_the_editor_tests_skip_with_reasons_and_install_nothing(tmp_path):
    env, calls = _bare_machine(tmp_path)
    r = _pytest(env)
    out = r.stdout + r.stderr
    assert not calls.exists(), f"the tests ran installers:\n{calls.read_text()}\n{out[-3000:]}"
    assert r.returncode == 0, out[-5000:]
    assert "1 passed" in out, out[-3000:]  # the grammar JSON check needs only Python
    assert "nvim is not installed: apt-get install -y neovim" in out, out[-3000:]
    assert "chromium is not installed: apt-get install -y chromium" in out, out[-3000:]
    assert "node is not installed" in out, out[-3000:]
    assert "language-tour.md is absent" in out and "LMP_SHARED_DIR" in out, out[-3000:]
    assert "/work/shared" not in out


def test_under_lmp_ci_missing_tooling_fails(tmp_path):
    env, calls = _bare_machine(tmp_path)
    r = _pytest({**env, "LMP_CI": "1"})
    out = r.stdout + r.stderr
    assert not calls.exists(), calls.read_text()
    assert r.returncode == 1, out[-5000:]
    assert "skipped" not in out.splitlines()[-1], out[-2000:]
    assert "nvim is not installed" in out and "LMP_CI=1 is set" in out, out[-3000:]
    assert "language-tour.md is absent" in out, out[-3000:]
