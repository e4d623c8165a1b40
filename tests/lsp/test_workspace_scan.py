"""The workspace scan (references, workspace symbols) reads files nobody opened: it must skip what the
loader would refuse anyway, before reading a byte of it."""

from __future__ import annotations

import os
import threading

from lmp.lsp.server import LmpLanguageServer
from lmp.syntax.limits import MAX_FILE_BYTES


def test_workspace_scan_skips_fifos_and_oversized_files(tmp_path):
    good = tmp_path / "good.lmp"
    good.write_text('signature S {\n  in q: str\n  out a: str\n}\n')
    big = tmp_path / "big.lmp"
    with open(big, "wb") as fh:  # sparse: over the limit without using the disk
        fh.truncate(MAX_FILE_BYTES + 1)
    fifo = tmp_path / "pipe.lmp"
    os.mkfifo(fifo)

    server = LmpLanguageServer()
    results: dict[str, object] = {}

    def scan() -> None:
        for p in (good, big, fifo):
            results[p.name] = server._load_workspace_file(str(p))

    worker = threading.Thread(target=scan, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the workspace scan blocked on a FIFO"
    assert results["big.lmp"] is None and results["pipe.lmp"] is None
    assert "S" in results["good.lmp"].program.signatures  # type: ignore[attr-defined]
