"""A missing API key is named at once, not reported as a server failure after retries."""

from __future__ import annotations

import time

from tests.cli.cli_helpers import ECHO, run


def test_run_with_a_hosted_model_and_no_key_names_the_variable(tmp_path, monkeypatch, capsys):
    for var in ("OPENAI_API_KEY", "LMP_API_BASE_DEFAULT"):
        monkeypatch.delenv(var, raising=False)
    # Any request would go to this dead proxy and fail as a connection error, not an auth error.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    prog = tmp_path / "echo.lmp"
    prog.write_text(ECHO)
    from lmp.runtime.lm.litellm_lm import import_litellm

    import_litellm()  # the one-time import is slow on a busy machine; it is not what is measured
    start = time.perf_counter()
    code, out, err = run(capsys, "run", str(prog), "-i", "text=hi", "--model", "openai/gpt-4o-mini", "--no-cache")
    assert time.perf_counter() - start < 5
    assert code == 1 and out == ""
    assert err.startswith("error: Model 'openai/gpt-4o-mini' needs an API key and none is set: set the "
                          "environment variable OPENAI_API_KEY")
    assert "HTTP 500" not in err and "after all retries" not in err
