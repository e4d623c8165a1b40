"""A stand-in for `lmp lsp` that speaks only the editor contract of docs/architecture.md.

It lets the VS Code client be tested on its own (diagnostics, hover, code lens, `lmp/previewPrompt`,
`lmp/outputSchema`) independently of the real server. It understands just enough of the fixture files
(regexes, no real parsing). Usage: `python lmp_stub.py lsp --stdio` (`lsp --help` exits 0).
"""

from __future__ import annotations

import re
import sys

if sys.argv[1:2] != ["lsp"]:
    sys.exit("usage: lmp_stub.py lsp [--stdio]")
if "--help" in sys.argv:
    print("usage: lmp lsp [--stdio]  (stub server for the editor tests)")
    sys.exit(0)

from lsprotocol import types  # noqa: E402
from pygls.lsp.server import LanguageServer  # noqa: E402

server = LanguageServer("lmp-stub", "0.0.1")
SIG = re.compile(r"^signature\s+(\w+)\s*\{(.*?)^\}", re.M | re.S)
FIELD = re.compile(r"^\s*(in|out)\s+(\w+)\s*:\s*([\w\[\]?]+)", re.M)
DOC = re.compile(r'"""(.*?)"""', re.S)


def _get(obj, key, default=None):
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def signatures(text: str) -> dict[str, dict]:
    out = {}
    for m in SIG.finditer(text):
        body = m.group(2)
        doc = DOC.search(body)
        out[m.group(1)] = {
            "line": text.count("\n", 0, m.start()),
            "instructions": doc.group(1).strip() if doc else "",
            "fields": FIELD.findall(body),
        }
    return out


def publish(ls: LanguageServer, uri: str) -> None:
    doc = ls.workspace.get_text_document(uri)
    diags = []
    for i, line in enumerate(doc.lines):
        for m in re.finditer(r"\bStrng\b", line):
            diags.append(
                types.Diagnostic(
                    range=types.Range(types.Position(i, m.start()), types.Position(i, m.end())),
                    message="unknown type `Strng`",
                    severity=types.DiagnosticSeverity.Error,
                    code="E010",
                    source="lmp",
                )
            )
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diags))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams):
    publish(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: LanguageServer, params: types.DidChangeTextDocumentParams):
    publish(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams):
    doc = ls.workspace.get_text_document(params.text_document.uri)
    word = doc.word_at_position(params.position)
    sig = signatures(doc.source).get(word)
    if not sig:
        return None
    fields = ", ".join(f"{k} {n}: {t}" for k, n, t in sig["fields"])
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"**signature {word}**({fields})")
    )


@server.feature(types.TEXT_DOCUMENT_CODE_LENS)
def code_lens(ls: LanguageServer, params: types.CodeLensParams):
    doc = ls.workspace.get_text_document(params.text_document.uri)
    return [
        types.CodeLens(
            range=types.Range(types.Position(s["line"], 0), types.Position(s["line"], 0)),
            command=types.Command(
                title="Preview prompt", command="lmp.previewPrompt", arguments=[doc.uri, name]
            ),
        )
        for name, s in signatures(doc.source).items()
    ]


# Also advertised as a server command, to check that the client keeps its own `lmp.previewPrompt`.
@server.command("lmp.previewPrompt")
def preview_command(ls: LanguageServer, *args):
    return None


def _target(ls: LanguageServer, params):
    uri = _get(params, "uri")
    doc = ls.workspace.get_text_document(uri)
    sigs = signatures(doc.source)
    name = _get(params, "predictor")
    if not name and sigs:
        name = next(iter(sigs))
    return name, sigs.get(name), doc


@server.feature("lmp/previewPrompt")
def preview(ls: LanguageServer, params):
    name, sig, doc = _target(ls, params)
    if not sig:
        return None
    ins = [f for f in sig["fields"] if f[0] == "in"]
    outs = [f for f in sig["fields"] if f[0] == "out"]
    system = (
        "Your input fields are:\n"
        + "".join(f"{i + 1}. `{n}` ({t})\n" for i, (_, n, t) in enumerate(ins))
        + "Your output fields are:\n"
        + "".join(f"{i + 1}. `{n}` ({t})\n" for i, (_, n, t) in enumerate(outs))
        + f'In adhering to this structure, your objective is: <{sig["instructions"]}> & "escaped"'
    )
    example = re.search(r"^example\s+" + name + r"\s*\{(.*?)^\}", doc.source, re.M | re.S)
    user = "".join(f"[[ ## {n} ## ]]\n{{{n}}}\n\n" for _, n, _ in ins)
    if example:
        for _, n, _ in ins:
            m = re.search(rf"^\s*{n}\s*:\s*\"(.*)\"", example.group(1), re.M)
            if m:
                user = user.replace("{" + n + "}", m.group(1))
    return {
        "predictor": name,
        "signature": name,
        "adapter": "chat",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "example": name if example else None,
        "state": None,
        "model": "openai/gpt-4o-mini",
    }


@server.feature("lmp/outputSchema")
def output_schema(ls: LanguageServer, params):
    name, sig, _ = _target(ls, params)
    if not sig:
        return None
    props = {
        n: {"type": {"str": "string", "float": "number", "int": "integer"}.get(t, "string")}
        for k, n, t in sig["fields"]
        if k == "out"
    }
    return {"predictor": name, "schema": {"type": "object", "properties": props, "required": list(props)}}


if __name__ == "__main__":
    server.start_io()
