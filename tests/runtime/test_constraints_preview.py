"""The constraint is seen, not hidden: `lmp preview` (text and --json), the LSP payload's data,
`lmp/outputSchema`, `--trace` and `lmp history` show what decoding is held to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmp.cli.main import main
from lmp.project import load_program
from lmp.runtime.adapters.constraints import compile_constraint
from lmp.runtime.lm.history import CallRecord, History
from lmp.runtime.lm.local import INSTALL_HINT, find_local_model
from lmp.runtime.predictors import with_reasoning
from lmp.runtime.preview import output_schema, render_preview

PROGRAM = '''model default = "{model}" {{ temperature: 0.0{extra} }}

signature Judge {{
  """Judge the review."""
  in  review: str
  out sentiment: "positive" | "neutral" | "negative"
  out score: float
}}

signature Tag {{
  in  text: str
  out meta: dict[str, any]
}}

module M(review: str) -> (sentiment: "positive" | "neutral" | "negative", score: float) {{
  let judge = ChainOfThought(Judge)
  let tag = Predict(Tag)
  return judge(review: review)
}}
'''


def write(tmp_path: Path, model: str = "local", extra: str = "") -> Path:
    path = tmp_path / "judge.lmp"
    path.write_text(PROGRAM.format(model=model, extra=extra))
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LMP_MODEL_DEFAULT", raising=False)


@pytest.mark.skipif(find_local_model() is None,
                    reason=f"the embedded local model is not installed ({INSTALL_HINT})")
def test_preview_shows_the_grammar_the_embedded_model_gets(tmp_path):
    pytest.importorskip("xllamacpp", reason="the embedded model's LM is built for the preview")
    program = load_program(write(tmp_path)).program
    pv = render_preview(program, "M.judge")
    c = pv.to_json()["constraint"]
    expected = compile_constraint("chat", with_reasoning(program.signatures["Judge"]))
    assert c["kind"] == "grammar" and c["server"] == "llama.cpp" and c["grammar"] == expected.grammar
    assert c["grammar"].startswith('root ::= "[[ ## reasoning ## ]]\\n"')  # ChainOfThought's reasoning first
    assert c["max_tokens"] == expected.budget and c["max_tokens_derived"] is True
    assert c["hash"] == expected.digest()


def test_preview_says_why_nothing_is_sent_to_an_unknown_server_and_sends_it_when_asked(tmp_path):
    base = "openai/my-model"
    plain = render_preview(load_program(write(tmp_path, base, ', api_base: "http://127.0.0.1:9/v1"')).program,
                           "M.judge").constraint
    assert plain is not None and plain["kind"] == "none" and "constrain" in plain["reason"]
    asked = render_preview(load_program(write(tmp_path, base, ', api_base: "http://127.0.0.1:9/v1", '
                                                         'constrain: "grammar", max_tokens: 99')).program,
                           "M.judge").constraint
    assert asked is not None and asked["kind"] == "grammar" and asked["max_tokens"] == 99
    assert asked["max_tokens_derived"] is False


def test_untyped_outputs_are_constrained_as_far_as_possible_and_the_preview_says_so(tmp_path, capsys):
    path = write(tmp_path, "openai/m", ', api_base: "http://127.0.0.1:9/v1", constrain: "grammar"')
    assert main(["preview", str(path), "M.tag"]) == 0
    out = capsys.readouterr().out
    assert "──── constraint: grammar" in out
    assert "note: `meta{}` has type any: constrained only to be a JSON value" in out
    assert main(["preview", str(path), "M.tag", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["constraint"]["kind"] == "grammar" and data["constraint"]["notes"]


def test_output_schema_matches_what_the_json_adapter_sends(tmp_path):
    program = load_program(write(tmp_path, "openai/m")).program
    schema = output_schema(program, "M.judge")
    assert list(schema["properties"]) == ["reasoning", "sentiment", "score"]
    sent = compile_constraint("json", with_reasoning(program.signatures["Judge"])).schema
    assert {k: v for k, v in schema.items() if k != "title"} == sent
    assert schema["title"] == "Judge"


def test_history_and_trace_name_the_constraint_and_a_cut_off(tmp_path, capsys):
    from lmp.runtime.lm.base import LMResponse

    file = tmp_path / "h.jsonl"
    hist = History(file)
    msgs = [{"role": "user", "content": "q"}]
    hist.add(CallRecord.from_response(msgs, LMResponse("[[ ## x", "local", finish_reason="length"),
                                      constraint={"kind": "grammar", "hash": "sha256:abc123def456"}))
    hist.add(CallRecord.from_response(msgs, LMResponse("ok", "local", finish_reason="stop"),
                                      constraint={"kind": "none"}))
    assert main(["history", "--file", str(file)]) == 0
    out = capsys.readouterr().out
    assert "· grammar sha256:abc123def456 · cut off at max_tokens" in out
    assert "· unconstrained" in out
    assert main(["history", "--file", str(file), "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["constraint"] == {"kind": "grammar", "hash": "sha256:abc123def456"}
    assert first["finish_reason"] == "length"

    from lmp.cli.cmd_run import print_trace

    print_trace(hist.records())
    err = capsys.readouterr().err
    assert "· grammar sha256:abc123def456 · cut off at max_tokens" in err


def test_the_language_server_preview_payload_carries_the_constraint(tmp_path):
    from lmp.lsp.server import _preview_json

    program = load_program(write(tmp_path, "openai/m", ', api_base: "http://127.0.0.1:9/v1", constrain: "grammar"')).program
    pv = render_preview(program, "M.judge")
    payload = _preview_json(pv, "M.judge")
    assert payload["constraint"] == pv.constraint and payload["constraint"]["kind"] == "grammar"
