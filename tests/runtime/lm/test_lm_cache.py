from __future__ import annotations

import threading
from pathlib import Path

from lmp.runtime.lm import DiskCache, LMResponse, cache_key
from lmp.runtime.lm.cache import default_cache_dir

MSGS = [{"role": "user", "content": "hello"}]
SECRET = "sk-THISISASECRETKEY0123456789"


def test_same_request_same_key_and_order_insensitive_params():
    a = cache_key("m", MSGS, {"temperature": 0, "max_tokens": 5})
    b = cache_key("m", MSGS, {"max_tokens": 5, "temperature": 0})
    assert a == b
    assert a != cache_key("m", MSGS, {"temperature": 1, "max_tokens": 5})
    assert a != cache_key("other", MSGS, {"temperature": 0, "max_tokens": 5})


def test_secrets_and_transport_never_enter_key():
    base = cache_key("m", MSGS, {"temperature": 0})
    assert base == cache_key(
        "m", MSGS, {"temperature": 0, "api_key": SECRET, "api_base": "http://x", "headers": {"a": 1}}
    )


def test_rollout_ids_give_distinct_entries(tmp_path):
    c = DiskCache(tmp_path)
    k1, k2 = c.key("m", MSGS, {}, rollout_id=1), c.key("m", MSGS, {}, rollout_id=2)
    assert k1 != k2 and k1 != c.key("m", MSGS, {})
    c.put(k1, LMResponse("one", "m"))
    c.put(k2, LMResponse("two", "m"))
    assert c.get(k1).text == "one" and c.get(k2).text == "two"


def test_hit_is_marked_cached_free_and_survives_new_instance(tmp_path):
    c = DiskCache(tmp_path)
    k = c.key("m", MSGS, {"api_key": SECRET})
    assert c.get(k) is None
    c.put(
        k, LMResponse("answer", "m", prompt_tokens=3, completion_tokens=1, cost=0.5, raw={"api_key": SECRET})
    )
    hit = DiskCache(tmp_path).get(k)  # fresh instance: from sqlite, not memory
    assert hit is not None and hit.text == "answer" and hit.cached and hit.cost == 0.0
    assert hit.prompt_tokens == 3
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"answer" in data
    assert SECRET.encode() not in data


def test_disabled_cache_is_a_no_op(tmp_path):
    c = DiskCache(tmp_path / "nope", enabled=False)
    c.put("k", LMResponse("x", "m"))
    assert c.get("k") is None and len(c) == 0
    assert not (tmp_path / "nope").exists()


def test_default_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cc"))
    assert default_cache_dir() == tmp_path / "cc"
    assert DiskCache().path.parent == tmp_path / "cc"


def test_memory_lru_is_bounded(tmp_path):
    c = DiskCache(tmp_path, memory_size=2)
    for i in range(5):
        c.put(f"k{i}", LMResponse(str(i), "m"))
    assert len(c._memory) == 2
    assert c.get("k0").text == "0"  # still on disk


def test_concurrent_threads_write_and_read(tmp_path):
    c = DiskCache(tmp_path)

    def work(i: int) -> None:
        for j in range(20):
            k = f"{i}-{j}"
            c.put(k, LMResponse(k, "m"))
            assert c.get(k).text == k

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 160


def test_two_processes_share_one_cache_file(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from lmp.runtime.lm import DiskCache, LMResponse\n"
        "c = DiskCache(sys.argv[1])\n"
        "for i in range(50): c.put(f'{sys.argv[2]}-{i}', LMResponse(str(i), 'm'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), tag]) for tag in ("a", "b")]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    c = DiskCache(tmp_path)
    assert len(c) == 100 and c.get("a-49").text == "49" and c.get("b-0").text == "0"


def test_many_connections_opening_a_new_cache_file_at_once(tmp_path):
    # Several workers that start together all create the file, switch it to WAL and create the
    # table; SQLite refuses some of those lock upgrades at once instead of waiting.
    errors: list[BaseException] = []
    for round_no in range(40):
        folder = tmp_path / str(round_no)
        barrier = threading.Barrier(6)

        def open_and_write(tag: int, folder: Path = folder, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                cache = DiskCache(folder)
                cache.put(f"k{tag}", LMResponse("v", "m"))
                cache.close()
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)

        workers = [threading.Thread(target=open_and_write, args=(i,)) for i in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors, errors[:3]
        assert len(DiskCache(folder)) == 6
