"""Fixtures for the language-server tests: a real `lmp lsp` process over stdio, driven by pytest-lsp."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = [sys.executable, "-m", "lmp", "lsp", "--stdio"]

PROGRAM = '''\
# events
type Category = "Wars and Conflicts" | "Politics and Governance" | "Science"

model default = "openai/gpt-4o-mini" { temperature: 0.0 }
model judge = "openai/gpt-4o"

signature ClassifyEvent {
  """Classify historic events."""
  in  event: str "a short description of the event"
  in  era: str
  out category: Category
  out confidence: float "between 0 and 1"
}

tool search(query: str, k: int = 3) -> list[str] = "rag.search:search"

module Classify(event: str) -> (category: Category) {
  let classify = ChainOfThought(ClassifyEvent) using judge
  r = classify(event: event, era: "modern")
  if r.category == "Science" {
    return (category: r.category)
  }
  return (category: r.category)
}

example ClassifyEvent {
  event: "Battle of Nineveh"
  era: "ancient"
  category: "Wars and Conflicts"
}
'''


def position_of(text: str, needle: str, nth: int = 0, delta: int = 0) -> lsp.Position:
    """The LSP position (UTF-16) of the nth occurrence of `needle`, plus `delta` characters."""
    idx = -1
    for _ in range(nth + 1):
        idx = text.index(needle, idx + 1)
    idx += delta
    line = text.count("\n", 0, idx)
    col = idx - (text.rfind("\n", 0, idx) + 1)
    prefix = text[text.rfind("\n", 0, idx) + 1: idx]
    return lsp.Position(line=line, character=len(prefix.encode("utf-16-le")) // 2 if prefix else col)


def end_of(text: str) -> lsp.Position:
    lines = text.split("\n")
    return lsp.Position(line=len(lines) - 1, character=len(lines[-1].encode("utf-16-le")) // 2)


async def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Session:
    """Small helpers over a pytest-lsp client."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}

    async def open(self, path: Path, text: str | None = None, wait: bool = True) -> str:
        if text is None:
            text = path.read_text(encoding="utf-8")
        else:
            path.write_text(text, encoding="utf-8")
        uri = path.as_uri()
        self.versions[uri] = 1
        self.texts[uri] = text
        self.client.diagnostics.pop(uri, None)
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="lmp", version=1, text=text)))
        if wait:
            await self.diagnostics(uri)
        return uri

    async def replace(self, uri: str, text: str, wait: bool = True) -> None:
        self.versions[uri] += 1
        old = self.texts[uri]
        self.texts[uri] = text
        self.client.diagnostics.pop(uri, None)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=[lsp.TextDocumentContentChangePartial(
                range=lsp.Range(start=lsp.Position(line=0, character=0), end=end_of(old)), text=text)]))
        if wait:
            await self.diagnostics(uri)

    async def diagnostics(self, uri: str, timeout: float = 10.0) -> list[lsp.Diagnostic]:
        found = await wait_for(lambda: self.client.diagnostics.get(uri) is not None and
                               [self.client.diagnostics[uri]], timeout, f"diagnostics for {uri}")
        return list(found[0])

    def tdi(self, uri: str) -> lsp.TextDocumentIdentifier:
        return lsp.TextDocumentIdentifier(uri=uri)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    params = lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"),
                                  initialization_options={"debounceMs": 50})
    # kept for tests of the announced capabilities (trigger characters, inlay hints)
    lsp_client.initialize_result = await lsp_client.initialize_session(params)  # type: ignore[attr-defined]
    yield lsp_client
    await lsp_client.shutdown_session()
