"""Issue 14 item 10: a corrupt response cache is moved aside with a warning and a fresh one starts;
one that cannot be opened at all is a clear error; damage found later only skips the cache."""

from __future__ import annotations

import sqlite3
import warnings

import pytest

from lmp.runtime.lm.base import LMResponse
from lmp.runtime.lm.cache import CacheUnavailable, CacheWarning, DiskCache


def _response(text: str = "hello") -> LMResponse:
    return LMResponse(text=text, model="m", prompt_tokens=1, completion_tokens=1)


def test_a_file_that_is_not_a_database_is_moved_aside_and_a_fresh_cache_starts(tmp_path):
    bad = tmp_path / "responses.sqlite"
    junk = b"this is not an sqlite file\n" * 200
    bad.write_bytes(junk)
    (tmp_path / "responses.sqlite-wal").write_bytes(b"stale log of the old file")
    with pytest.warns(CacheWarning) as caught:
        cache = DiskCache(tmp_path)
    message = str(caught[0].message)
    moved = [p for p in tmp_path.glob("responses.sqlite.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(moved) == 1 and moved[0].read_bytes() == junk  # kept, for a look
    assert str(bad) in message and str(moved[0]) in message and "fresh cache" in message
    assert cache.moved_aside == moved[0]
    # The old file's write-ahead log went with it (replayed into the fresh file it would damage it).
    assert (tmp_path / f"{moved[0].name}-wal").read_bytes() == b"stale log of the old file"
    key = cache.key("m", [{"role": "user", "content": "hi"}], {})
    assert cache.get(key) is None
    cache.put(key, _response())
    cache.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fresh file opens without a warning
        again = DiskCache(tmp_path)
    assert again.get(key).text == "hello" and again.get(key).cached


def test_a_cache_that_cannot_be_opened_at_all_is_a_clear_error(tmp_path):
    (tmp_path / "responses.sqlite").mkdir()  # a directory where the file should be
    with pytest.raises(CacheUnavailable) as info:
        DiskCache(tmp_path)
    assert str(tmp_path / "responses.sqlite") in str(info.value) and "--no-cache" in str(info.value)


def test_damage_found_after_open_skips_the_cache_with_one_warning(tmp_path):
    cache = DiskCache(tmp_path)
    keys = [cache.key("m", [{"role": "user", "content": f"q{i}"}], {}) for i in range(400)]
    for k in keys:
        cache.put(k, _response("x" * 500))
    cache.close()
    path = tmp_path / "responses.sqlite"
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(3 * page, len(data) - page, page):  # leave the header and the first pages alone
        data[start:start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        damaged = DiskCache(tmp_path, memory_size=0)
        answers = [damaged.get(k) for k in keys]
        damaged.put(keys[0], _response("new"))
    cache_warnings = [w for w in caught if issubclass(w.category, CacheWarning)]
    assert cache_warnings, "the damage went unnoticed"
    assert len([w for w in cache_warnings if "damaged" in str(w.message)]) <= 1
    assert any(a is None for a in answers) or damaged.moved_aside is not None
