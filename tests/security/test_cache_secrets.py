"""A model answer that repeats a key lmp was given is never written to the response cache."""

from __future__ import annotations

from lmp.runtime.lm.base import LMResponse
from lmp.runtime.lm.cache import DiskCache
from lmp.secrets import forget_secrets, register_secret

KEY = "sk-cachetest-4f9a1c2e8b7d6a5f4e3d2c1b"


def test_an_answer_echoing_a_given_key_is_cached_scrubbed(tmp_path):
    register_secret(KEY)
    try:
        cache = DiskCache(tmp_path)
        cache.put("k", LMResponse(text=f"your key is {KEY}", model="m"))
        on_disk = b"".join(f.read_bytes() for f in tmp_path.iterdir())  # the database and its WAL
        assert b"responses" in on_disk and KEY.encode() not in on_disk
        hit = DiskCache(tmp_path).get("k")  # a new process: read back from disk, not memory
        assert hit is not None and hit.text == "your key is ***"
        # answers that merely look like keys are the model's business and stay as they are
        cache.put("k2", LMResponse(text="sk-this-is-just-an-example-string-0000", model="m"))
        assert DiskCache(tmp_path).get("k2").text == "sk-this-is-just-an-example-string-0000"
    finally:
        forget_secrets()
