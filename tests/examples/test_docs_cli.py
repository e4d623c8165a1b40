"""docs/cli.md is generated from the CLI's argparse definitions and must be current."""

from __future__ import annotations

import subprocess
import sys

from ex_helpers import ROOT


def test_cli_reference_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_cli.py"), "--check"], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr + "\nrun: python docs/gen_cli.py"


def test_cli_reference_lists_every_command():
    from lmp.cli.main import build_parser

    text = (ROOT / "docs" / "cli.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        assert f"## lmp {name}" in text
