"""The server never crashes or hangs: random edits (hypothesis) through a live server, big files,
garbage requests."""

from __future__ import annotations

import asyncio
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from tests.lsp.conftest import PROGRAM, Session, end_of

FRAGMENTS = ["{", "}", "(", ")", "[", "]", '"', '"""', "\n", " ", ":", ",", ".", "->", "|", "==", "#",
             "let ", "in ", "out ", "signature ", "module ", "type ", "Predict(", "ChainOfThought(",
             "r.", "category", "event", "é", "🎉", "\t", "return ", "using ", "import \"x.lmp\"\n"]

edits = st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 12), st.lists(st.sampled_from(FRAGMENTS), max_size=4)),
    min_size=300, max_size=300)


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(edits=edits)
def test_fuzz_random_edits_keep_server_answering(edits, tmp_path_factory):
    asyncio.run(_fuzz(edits, tmp_path_factory.mktemp("fuzz")))


async def _fuzz(edits, tmp_path):
    import sys

    from pygls.lsp.client import LanguageClient as Client

    from tests.lsp.conftest import SERVER

    client = Client("fuzz", "1")
    await client.start_io(*SERVER)
    try:
        await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(),
                                                           initialization_options={"debounceMs": 20}))
        client.initialized(lsp.InitializedParams())
        path = tmp_path / "fuzz.lmp"
        path.write_text(PROGRAM)
        uri = path.as_uri()
        text = PROGRAM
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="lmp", version=1, text=text)))
        t0 = time.monotonic()
        for version, (where, cut, frags) in enumerate(edits, start=2):
            start = int(where * len(text))
            end = min(len(text), start + cut)
            new = "".join(frags)
            before = text[:start]
            s_line = before.count("\n")
            s_col = len(before[before.rfind("\n") + 1:].encode("utf-16-le")) // 2
            mid = text[:end]
            e_line = mid.count("\n")
            e_col = len(mid[mid.rfind("\n") + 1:].encode("utf-16-le")) // 2
            text = text[:start] + new + text[end:]
            client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(start=lsp.Position(line=s_line, character=s_col),
                                    end=lsp.Position(line=e_line, character=e_col)), text=new)]))
            if version % 10 == 0:  # interleave requests at the edit point
                pos = lsp.Position(line=s_line, character=s_col)
                tdi = lsp.TextDocumentIdentifier(uri=uri)
                await asyncio.wait_for(asyncio.gather(
                    client.text_document_hover_async(lsp.HoverParams(text_document=tdi, position=pos)),
                    client.text_document_completion_async(lsp.CompletionParams(text_document=tdi, position=pos)),
                    client.text_document_semantic_tokens_full_async(lsp.SemanticTokensParams(text_document=tdi)),
                    client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=tdi)),
                    client.text_document_folding_range_async(lsp.FoldingRangeParams(text_document=tdi)),
                    client.text_document_signature_help_async(lsp.SignatureHelpParams(text_document=tdi, position=pos)),
                    client.text_document_code_lens_async(lsp.CodeLensParams(text_document=tdi)),
                ), timeout=20)
        # still alive: the final text's symbols answer, and the server's view of the text is ours
        tdi = lsp.TextDocumentIdentifier(uri=uri)
        syms = await asyncio.wait_for(client.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(text_document=tdi)), timeout=20)
        assert isinstance(syms, list)
        end = end_of(text)
        await asyncio.wait_for(client.text_document_hover_async(lsp.HoverParams(text_document=tdi, position=end)), 20)
        elapsed = time.monotonic() - t0
        assert elapsed < 30, f"300 edits took {elapsed:.1f}s"
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
    finally:
        await client.stop()
        del sys


async def test_ten_thousand_line_file_gets_diagnostics(client: LanguageClient, tmp_path):
    from bench.lsp_latency import generate

    s = Session(client)
    text = generate(10_000)
    text = text.replace("r = p0(text: text)", "r = p0(txt: text)", 1)
    t0 = time.monotonic()
    uri = await s.open(tmp_path / "big.lmp", text)
    diags = await s.diagnostics(uri, timeout=60)
    assert time.monotonic() - t0 < 60
    assert len(text.splitlines()) >= 10_000
    assert any("txt" in d.message for d in diags), [d.message for d in diags][:5]
    # and the server answers quickly after that
    t1 = time.monotonic()
    res = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=s.tdi(uri)))
    assert res and time.monotonic() - t1 < 10


async def test_bad_requests_are_answered_not_fatal(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    tdi = s.tdi(uri)
    # positions far outside the document
    far = lsp.Position(line=10_000, character=500)
    assert await client.text_document_hover_async(lsp.HoverParams(text_document=tdi, position=far)) is None
    await client.text_document_completion_async(lsp.CompletionParams(text_document=tdi, position=far))
    # a document that was never opened
    ghost = lsp.TextDocumentIdentifier(uri=(tmp_path / "ghost.lmp").as_uri())
    assert await client.text_document_hover_async(lsp.HoverParams(text_document=ghost, position=far)) is None
    # custom requests with bad params answer with an error
    for params in ({}, {"uri": uri, "predictor": "Nope.nope"}, {"uri": (tmp_path / "missing.lmp").as_uri()}):
        try:
            await client.protocol.send_request_async("lmp/previewPrompt", params)
        except Exception as exc:  # noqa: BLE001
            assert str(exc)
        else:
            raise AssertionError(f"expected an error for {params}")
    # rename to an invalid name is an error, and the server still answers afterwards
    try:
        await client.text_document_rename_async(lsp.RenameParams(
            text_document=tdi, position=lsp.Position(line=6, character=12), new_name="not a name"))
    except Exception as exc:  # noqa: BLE001
        assert "not a valid name" in str(exc)
    syms = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=tdi))
    assert syms


async def test_opening_never_imports_user_python(client: LanguageClient, tmp_path):
    marker = tmp_path / "imported.txt"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\ndef search(q): return []\n")
    s = Session(client)
    text = PROGRAM.replace('"rag.search:search"', '"evil:search"') + '\nretriever docs = "evil:search"\n'
    uri = await s.open(tmp_path / "p.lmp", text)
    await client.text_document_hover_async(lsp.HoverParams(
        text_document=s.tdi(uri), position=lsp.Position(line=text[:text.index("search(")].count("\n"), character=6)))
    await client.text_document_code_lens_async(lsp.CodeLensParams(text_document=s.tdi(uri)))
    try:
        await client.protocol.send_request_async("lmp/previewPrompt", {"uri": uri, "predictor": "Classify.classify"})
    except Exception:  # noqa: BLE001
        pass
    await asyncio.sleep(0.2)
    assert not marker.exists()


async def test_tcp_mode(tmp_path):
    import socket
    import subprocess
    import sys

    from pygls.lsp.client import LanguageClient as Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "lmp", "lsp", "--tcp", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = Client("tcp", "1")
        for _ in range(100):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("server did not listen")
        res = await asyncio.wait_for(client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities())), 10)
        assert res.capabilities.hover_provider
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
        await client.stop()
    finally:
        proc.wait(timeout=10) if proc.poll() is not None else proc.terminate()
        proc.wait(timeout=10)
