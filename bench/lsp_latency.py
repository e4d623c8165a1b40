"""Language-server latency: didChange -> publishDiagnostics (p50/p95) on generated 300- and 2,000-line
files, completion latency, and the server's memory after opening 50 files.

    python bench/lsp_latency.py [--edits 60] [--files 50]

Runs `lmp lsp` as a subprocess over stdio (the way an editor does) with pygls's client.
"Isolated" edits arrive after a pause (the server analyses at once); "burst" edits arrive 30 ms
apart (the server waits until typing pauses for its 150 ms debounce, then analyses once), so
burst latency is measured from the last edit of the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

SERVER = [sys.executable, "-m", "lmp", "lsp", "--stdio"]


def generate(n_lines: int, seed: int = 0) -> str:
    """A valid program of about `n_lines` lines: signatures and modules that use them."""
    out = ['type Category = "a" | "b" | "c"', "", 'model judge = "openai/gpt-4o"', ""]
    i = 0
    while len(out) < n_lines:
        out += [
            f"signature Sig{i} {{", '  """Label the text."""', '  in  text: str "the input"', "  in  hint: str?",
            "  out label: Category", '  out score: float "between 0 and 1"', "}", "",
            f"module Mod{i}(text: str) -> (label: Category) {{", f"  let p{i} = ChainOfThought(Sig{i}) using judge",
            f"  r = p{i}(text: text)", '  if r.label == "a" and r.score > 0.5 {', "    return (label: r.label)", "  }",
            "  return (label: r.label)", "}", "",
        ]
        i += 1
    return "\n".join(out) + "\n"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


class Bench:
    def __init__(self) -> None:
        self.client = LanguageClient("lmp-bench", "1")
        self.published: dict[str, list[tuple[float, int | None, int]]] = {}
        self.events: dict[str, asyncio.Event] = {}

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diags(params: lsp.PublishDiagnosticsParams) -> None:
            self.published.setdefault(params.uri, []).append((time.perf_counter(), params.version,
                                                               len(params.diagnostics)))
            ev = self.events.get(params.uri)
            if ev is not None:
                ev.set()

    async def start(self) -> None:
        await self.client.start_io(*SERVER)
        await self.client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
        self.client.initialized(lsp.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    @property
    def pid(self) -> int:
        return self.client._server.pid  # type: ignore[attr-defined]

    async def wait_version(self, uri: str, version: int, timeout: float = 60) -> float:
        deadline = time.perf_counter() + timeout
        while True:
            for t, v, _n in self.published.get(uri, []):
                if v == version:
                    return t
            ev = self.events.setdefault(uri, asyncio.Event())
            ev.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no diagnostics for {uri} v{version}")
            try:
                await asyncio.wait_for(ev.wait(), remaining)
            except TimeoutError:
                pass

    async def open(self, path: Path, text: str) -> str:
        path.write_text(text)
        uri = path.as_uri()
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="lmp", version=1, text=text)))
        return uri

    def change(self, uri: str, version: int, line: int, col: int, old_len: int, new: str) -> None:
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangePartial(
                range=lsp.Range(start=lsp.Position(line=line, character=col),
                                end=lsp.Position(line=line, character=col + old_len)), text=new)]))


async def run(edits: int, n_files: int) -> dict[str, object]:
    results: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="lmp-bench-"))
    b = Bench()
    await b.start()
    try:
        for n in (300, 2000):
            text = generate(n)
            uri = await b.open(tmp / f"f{n}.lmp", text)
            t_open = time.perf_counter()
            await b.wait_version(uri, 1)
            results[f"open_{n}"] = (time.perf_counter() - t_open) * 1000
            lines = text.split("\n")
            target = next(i for i, ln in enumerate(lines) if ln.startswith("  r = p") and i > len(lines) // 2)
            col = lines[target].index("(text") + 1
            version = 1
            iso: list[float] = []
            for k in range(edits):
                await asyncio.sleep(0.2)  # a pause in typing
                version += 1
                # toggle `text: text` <-> `txt: text` (an error, then fixed)
                if k % 2 == 0:
                    b.change(uri, version, target, col, 4, "txt")
                else:
                    b.change(uri, version, target, col, 3, "text")
                t0 = time.perf_counter()
                t1 = await b.wait_version(uri, version)
                iso.append((t1 - t0) * 1000)
            results[f"isolated_{n}"] = iso
            burst: list[float] = []
            state = edits % 2  # 0: line has `text`, 1: `txt`
            for _k in range(max(4, edits // 6)):
                await asyncio.sleep(0.3)
                for _j in range(5):
                    version += 1
                    if state == 0:
                        b.change(uri, version, target, col, 4, "txt")
                    else:
                        b.change(uri, version, target, col, 3, "text")
                    state ^= 1
                    t0 = time.perf_counter()
                    await asyncio.sleep(0.03)
                t1 = await b.wait_version(uri, version)
                burst.append((t1 - t0) * 1000)
            results[f"burst_{n}"] = burst
            # completion inside a predictor call and after `.`
            comp: list[float] = []
            await asyncio.sleep(0.3)
            tdi = lsp.TextDocumentIdentifier(uri=uri)
            for k in range(40):
                pos = lsp.Position(line=target, character=col) if k % 2 == 0 else \
                    lsp.Position(line=target + 1, character=lines[target + 1].index("r.label") + 2)
                t0 = time.perf_counter()
                res = await b.client.text_document_completion_async(lsp.CompletionParams(text_document=tdi,
                                                                                          position=pos))
                comp.append((time.perf_counter() - t0) * 1000)
                assert res is not None
            results[f"completion_{n}"] = comp
            hov: list[float] = []
            for _k in range(20):
                t0 = time.perf_counter()
                await b.client.text_document_hover_async(lsp.HoverParams(
                    text_document=tdi, position=lsp.Position(line=target, character=5)))
                hov.append((time.perf_counter() - t0) * 1000)
            results[f"hover_{n}"] = hov
        rss0 = _rss(b.pid)
        uris = []
        for i in range(n_files):
            uris.append(await b.open(tmp / f"many{i}.lmp", generate(300).replace("Sig", f"S{i}x")))
        for u in uris:
            await b.wait_version(u, 1)
        results["rss_before_mb"] = rss0
        results["rss_after_mb"] = _rss(b.pid)
    finally:
        await b.stop()
    return results


def _rss(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=60)
    ap.add_argument("--files", type=int, default=50)
    args = ap.parse_args()
    r = asyncio.run(run(args.edits, args.files))
    print(f"lmp lsp latency (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    print(f"{'measure':<44}{'p50 ms':>10}{'p95 ms':>10}{'n':>6}")
    for n in (300, 2000):
        print(f"{f'open -> diagnostics, {n} lines':<44}{r[f'open_{n}']:>10.1f}{'':>10}{1:>6}")
        for key, label in ((f"isolated_{n}", f"didChange -> diagnostics, {n} lines"),
                           (f"burst_{n}", f"  burst of 5 (from last edit), {n} lines"),
                           (f"completion_{n}", f"completion, {n} lines"),
                           (f"hover_{n}", f"hover, {n} lines")):
            vals = r[key]
            print(f"{label:<44}{pct(vals, 50):>10.1f}{pct(vals, 95):>10.1f}{len(vals):>6}")
    print(f"{'server RSS before / after opening ' + str(args.files) + ' files':<44}"
          f"{r['rss_before_mb']:>9.0f}M{r['rss_after_mb']:>9.0f}M")
    ok300 = pct(r["isolated_300"], 95) < 30
    ok2000 = pct(r["isolated_2000"], 95) < 100
    ok_burst = pct(r["burst_2000"], 95) < 150
    print(f"targets: p95 < 30 ms on 300 lines: {'met' if ok300 else 'MISSED'}; "
          f"p95 < 100 ms on 2,000 lines: {'met' if ok2000 else 'MISSED'}; "
          f"burst (last keystroke -> diagnostics) p95 < 150 ms on 2,000 lines: {'met' if ok_burst else 'MISSED'}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
