"""`import lmp` and the CLI's parser stay free of pyspark (the spark extra is optional)."""

from __future__ import annotations

import subprocess
import sys


def test_import_lmp_and_the_cli_do_not_import_pyspark():
    code = ("import sys, lmp, lmp.api, lmp.cli.main, lmp.cli.cmd_run, lmp.cli.cmd_eval, lmp.cli.spark_engine, lmp.spark\n"
            "from lmp.cli.main import build_parser\n"
            "build_parser()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'pyarrow'))\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
