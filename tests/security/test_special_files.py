"""Special files never freeze the tools (issue 14, item 2).

Before: `import "/dev/stdin"` made the language server read its own JSON-RPC input (no answer to
anything, not even shutdown); a FIFO hung `lmp check` and the server; `import "/dev/zero"` read
until MemoryError (2.7 GB). Now only regular files are opened (checked with stat before opening,
opened non-blocking, re-checked with fstat), never read past the source size limit, and each
import is read once per load. Child processes run with a deadline and a 1 GB address-space limit,
so a regression fails the test instead of hanging or exhausting the machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmp.ir import project as ir_project
from lmp.project import load_program
from lmp.syntax import MAX_FILE_BYTES

from .helpers import LspClient, lmp_cli, project

QA = 'signature QA = "question -> answer"\n'


@pytest.fixture
def fifo_project(tmp_path: Path) -> Path:
    root = project(tmp_path)
    os.mkfifo(root / "pipe.lmp")
    return root


def test_check_does_not_hang_on_an_imported_fifo(fifo_project: Path) -> None:
    (fifo_project / "main.lmp").write_text('import "pipe.lmp"\n' + QA)
    proc = lmp_cli("check", "main.lmp", cwd=fifo_project, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "E002" in proc.stdout and "FIFO" in proc.stdout


def test_check_does_not_hang_on_a_fifo_given_directly(fifo_project: Path) -> None:
    proc = lmp_cli("check", "pipe.lmp", cwd=fifo_project, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "E002" in proc.stdout and "FIFO" in proc.stdout


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/stdin", "/dev/urandom"])
def test_devices_are_refused_before_they_are_read(target: str, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "main.lmp").write_text(f'import "{target}"\n' + QA)
    # stdin is a pipe nobody writes to: reading it would block until the deadline.
    proc = lmp_cli("check", "main.lmp", cwd=root, timeout=60, stdin=None)
    assert proc.returncode == 1, proc.stderr
    assert "E102" in proc.stdout and "MemoryError" not in proc.stderr


def test_a_symlink_to_a_device_inside_the_root_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    os.symlink("/dev/zero", root / "zero.lmp")
    (root / "main.lmp").write_text('import "zero.lmp"\n' + QA)
    proc = lmp_cli("check", "main.lmp", cwd=root, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "E102" in proc.stdout and "link that leads outside" in proc.stdout


def test_a_device_given_directly_is_refused(tmp_path: Path) -> None:
    proc = lmp_cli("check", "/dev/zero", cwd=tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "E002" in proc.stdout and "a device" in proc.stdout


def test_a_directory_named_like_a_source_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "dir.lmp").mkdir()
    (root / "main.lmp").write_text('import "dir.lmp"\n' + QA)
    diags = load_program(root / "main.lmp").diagnostics
    assert [(d.code, d.span.line) for d in diags if d.code == "E002"] == [("E002", 0)]
    assert "a directory" in next(d.message for d in diags if d.code == "E002")


def test_an_oversized_import_is_refused_without_reading_it(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    big = root / "big.lmp"
    with open(big, "wb") as fh:  # sparse: no disk, but st_size says 1 byte over the limit
        fh.truncate(MAX_FILE_BYTES + 1)
    (root / "main.lmp").write_text('import "big.lmp"\n' + QA)
    reads: list[str] = []
    real = ir_project.read_source
    monkeypatch.setattr(ir_project, "read_source", lambda p: reads.append(p) or real(p))
    diags = load_program(root / "main.lmp").diagnostics
    e002 = [d for d in diags if d.code == "E002"]
    assert e002 and "too large" in e002[0].message and e002[0].path == str(root / "main.lmp")
    assert str(big) not in reads


def test_each_import_is_read_once_per_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    (root / "qa.lmp").write_text(QA)
    (root / "main.lmp").write_text('import "qa.lmp"\n\nmodule A(question: str) -> (answer: str) {\n'
                                   '  let qa = Predict(QA)\n  return qa(question: question)\n}\n')
    reads: list[str] = []
    real = ir_project.read_source
    monkeypatch.setattr(ir_project, "read_source", lambda p: reads.append(p) or real(p))
    assert load_program(root / "main.lmp").errors == []
    assert sorted(reads) == sorted([str(root / "main.lmp"), str(root / "qa.lmp")])


def test_language_server_survives_stdin_fifo_and_device_imports(fifo_project: Path) -> None:
    """`import "/dev/stdin"` in an open buffer must not make the server read its own input."""
    os.symlink("/dev/stdin", fifo_project / "in.lmp")
    client = LspClient(fifo_project)
    try:
        client.initialize(fifo_project)
        cases = {
            "stdin.lmp": ('import "/dev/stdin"\n' + QA, "E102"),
            "link.lmp": ('import "in.lmp"\n' + QA, "E102"),
            "fifo.lmp": ('import "pipe.lmp"\n' + QA, "E002"),
            "zero.lmp": ('import "/dev/zero"\n' + QA, "E102"),
        }
        uris = {name: client.open(fifo_project / name, text) for name, (text, _) in cases.items()}
        for name, (_, code) in cases.items():
            diags = client.diagnostics(uris[name], timeout=60)
            assert [d["code"] for d in diags] == [code], (name, diags)
        # Still answering requests after all of that.
        hover = client.request("textDocument/hover", {"textDocument": {"uri": uris["stdin.lmp"]},
                                                      "position": {"line": 1, "character": 11}}, timeout=30)
        assert "result" in hover and hover["result"] is not None
    finally:
        code = client.close()
    # It answered shutdown and left on exit (its exit status is pygls's business, not checked here).
    assert code is not None, "the server did not answer shutdown / exit"
