"""The `lmp` entry point: warnings read like lmp's errors, not like Python's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from lmp import __version__
from lmp.cli.main import COMMANDS, main

CLASSIFY = Path(__file__).resolve().parents[2] / "examples" / "classify"
COMMAND_NAMES = [name.replace("_", "-") for name in COMMANDS]


def test_stale_state_warning_is_one_plain_line(tmp_path, capsys):
    for name in ("classify.lmp", "classify.state.json"):
        shutil.copy(CLASSIFY / name, tmp_path / name)
    prog = tmp_path / "classify.lmp"
    prog.write_text(prog.read_text().replace('out confidence: float "between 0 and 1"',
                                             'out confidence: float "between 0 and 1"\n  out note: str'))
    assert main(["preview", str(prog), "Classify.classify", "-i", "event=x"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: state ") and "the signature of `Classify.classify` changed" in err
    assert "StateWarning" not in err and "interpreter.py" not in err


# ---------------------------------------------------------------- which sub-commands get built


def _lmp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lmp", *args], capture_output=True, text=True, timeout=120)


def test_help_and_a_bare_lmp_list_every_command():
    for args in (["--help"], [], ["--debug"]):
        r = _lmp(*args)
        assert r.returncode == (0 if args == ["--help"] else 2), r.stderr
        assert re.findall(r"^    (\S+)", r.stdout, re.M) == COMMAND_NAMES, args


def test_help_before_a_command_is_the_top_level_help():
    r = _lmp("--help", "check")
    assert r.returncode == 0 and r.stdout.startswith("usage: lmp [-h]") and "serve-local" in r.stdout


def test_an_unknown_command_lists_every_command():
    for bad in ("chek", "diff_state", "--"):
        r = _lmp(bad, "x.lmp")
        assert r.returncode == 2
        assert f"invalid choice: '{bad}' (choose from " + ", ".join(f"'{n}'" for n in COMMAND_NAMES) + ")" in r.stderr


def test_a_command_help_and_usage_errors_are_the_commands_own():
    r = _lmp("check", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: lmp check [-h] [--format {text,json}]")
    r = _lmp("--debug", "diff-state")
    assert r.returncode == 2 and "lmp diff-state: error: the following arguments are required: a, b" in r.stderr
    r = _lmp("mcp", "refresh", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: lmp mcp refresh")
    r = _lmp("check", str(CLASSIFY / "classify.lmp"), "--bogus")
    assert r.returncode == 2 and "lmp: error: unrecognized arguments: --bogus" in r.stderr


def test_version_and_debug_abbreviated_as_argparse_allows():
    for args in (["--version"], ["--vers"], ["--deb", "--version", "check"]):
        r = _lmp(*args)
        assert (r.returncode, r.stdout) == (0, f"lmp {__version__}\n"), args
    r = _lmp("--deb", "check", str(CLASSIFY / "classify.lmp"))
    assert r.returncode == 0 and r.stdout.startswith("ok: 1 file(s) checked")


def test_a_command_line_imports_only_its_commands_module():
    code = ("import sys\nfrom lmp.cli.main import build_parser\nbuild_parser(sys.argv[1:])\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('lmp.cli.cmd_'))))")
    cases = {("check", "x.lmp"): "lmp.cli.cmd_check", ("--debug", "serve-local"): "lmp.cli.cmd_serve_local",
             ("--version",): ""}
    for args, modules in cases.items():
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert r.stdout.strip() == modules, (args, r.stderr)


def test_python_m_lmp_cli_main_reports_usage_errors_as_lmp_does():
    r = subprocess.run([sys.executable, "-m", "lmp.cli.main", "check", "no-such.lmp"], capture_output=True,
                       text=True, timeout=120)
    assert (r.returncode, r.stderr) == (2, "lmp check: no such file or directory: no-such.lmp\n")
