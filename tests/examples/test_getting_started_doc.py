"""docs/getting-started.md works as written: in an empty folder, the files it gives in full plus its commands,
in order. The model is a scripted fake (what the local model answers is not what this checks): every file a
command uses must exist, every command must run, and the outputs that do not depend on the model must match."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from lmp.runtime.lm.local import find_local_model

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "getting-started.md"
ANSWER = "[[ ## sentiment ## ]]\npositive\n\n[[ ## completed ## ]]"


def _uncounted(line: str) -> str:
    """A preview line without its token counts (exact in the doc, estimates where the local model is missing)."""
    if line.startswith("tokens: "):
        return "tokens: …"
    return re.sub(r" · ≈?\d+ tokens ────$", " · N tokens ────", line)


def _files(text: str) -> dict[str, str]:
    """Files given in full: a line "`name`:" followed by a fenced block."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^`([\w.]+)`:\n\n```\w*\n(.*?)^```", text, re.M | re.S)}


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """(`$ command`, the output lines shown after it) from every console block, in order."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
    return out


def test_every_command_in_getting_started_works_in_an_empty_folder(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    files = _files(text)
    assert {"sentiment.lmp", "train.jsonl", "dev.jsonl", "rows.jsonl", "use_it.py"} <= set(files)
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    commands = _commands(text)
    used = {w for cmd, _ in commands for w in cmd.split() if re.fullmatch(r"[\w.]+\.(lmp|jsonl|py|json)", w)}
    made = {"typo.lmp", "sentiment.state.json", "rows.out.jsonl"}  # written by the doc's own commands
    assert used - made <= set(files), f"the doc uses files it never gives: {sorted(used - made - set(files))}"

    bin_dir = str(Path(sys.executable).parent)  # `lmp` and `python` of this environment
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMP_MODEL_")}
    env.update(PATH=bin_dir + os.pathsep + env.get("PATH", ""), LMP_MODEL_DEFAULT=f"fake:{ANSWER}",
               LMP_CACHE_DIR=str(tmp_path / ".cache"), HOME=str(tmp_path))
    for cmd, shown in commands:
        # A preview calls no model: it runs with the program's own (`local`, needed only for a call).
        run_env = {k: v for k, v in env.items() if k != "LMP_MODEL_DEFAULT"} if cmd.startswith("lmp preview") else env
        r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=run_env, capture_output=True, text=True,
                           timeout=300)
        got = r.stdout + r.stderr
        doc_says_error = any(line.startswith(("error:", "failed:")) for line in shown)
        assert r.returncode == (1 if cmd.startswith("lmp check typo") else 0) or doc_says_error, f"$ {cmd}\n{got}"
        assert "No such file" not in got and "does not exist" not in got and "usage:" not in got, f"$ {cmd}\n{got}"
        if cmd.startswith("lmp check"):  # no model involved: the output is exactly the doc's
            assert got.rstrip("\n").splitlines() == [ln for ln in shown], f"$ {cmd}\n{got}"
        elif cmd.startswith("lmp preview") and "state: -" in shown[1]:
            # The messages are exactly the doc's; the constraint section after them depends on whether the
            # local model is installed here (the doc shows it installed).
            cut = next((i for i, ln in enumerate(shown) if ln.startswith("──── constraint")), len(shown))
            lines, expected = got.splitlines()[:cut], shown[:cut]
            if find_local_model() is None:  # token counts are estimates without the model's tokenizer
                lines, expected = [_uncounted(ln) for ln in lines], [_uncounted(ln) for ln in expected]
            assert lines == expected, f"the doc's output of `$ {cmd}` is outdated:\n{got}"
        elif cmd.startswith("lmp optimize"):
            assert "on 6 train / 4 dev rows" in got and "state written to sentiment.state.json" in got, got
        elif cmd.startswith("lmp eval"):
            assert "n=4" in got, got
        elif "--input rows.jsonl" in cmd:
            assert "4 row(s) done" in got, got
        elif cmd.startswith("python use_it.py"):
            assert got.splitlines()[0] == shown[0] and got.splitlines()[-1] == "4 demos", got
