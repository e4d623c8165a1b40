"""End-to-end tests of `lmp lsp` over stdio with pytest-lsp: one real server process per test."""

from __future__ import annotations

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from tests.lsp.conftest import PROGRAM, Session, position_of


async def test_open_publishes_diagnostics_with_codes_and_ranges(client: LanguageClient, tmp_path):
    s = Session(client)
    bad = PROGRAM.replace("out confidence: float", "out confidence: flaot")
    uri = await s.open(tmp_path / "bad.lmp", bad)
    diags = await s.diagnostics(uri)
    d = next(d for d in diags if d.code == "E010")
    assert "flaot" in d.message and "float" in d.message
    assert d.severity == lsp.DiagnosticSeverity.Error and d.source == "lmp"
    assert d.range.start == position_of(bad, "flaot")
    assert d.range.end == position_of(bad, "flaot", delta=5)
    assert d.data["fixes"] and d.data["fixes"][0]["text"] == "float"


async def test_clean_file_has_no_diagnostics(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "ok.lmp", PROGRAM)
    assert await s.diagnostics(uri) == []


async def test_change_updates_diagnostics(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    assert await s.diagnostics(uri) == []
    await s.replace(uri, PROGRAM.replace("r = classify(event: event, era: \"modern\")", "r = classify(event: event"))
    diags = await s.diagnostics(uri)
    assert any(d.code == "E001" for d in diags)
    await s.replace(uri, PROGRAM)
    assert await s.diagnostics(uri) == []


async def test_incremental_changes_are_applied(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    pos = position_of(PROGRAM, "out confidence: float", delta=len("out confidence: "))
    s.versions[uri] += 1
    client.diagnostics.pop(uri, None)
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=s.versions[uri]),
        content_changes=[lsp.TextDocumentContentChangePartial(
            range=lsp.Range(start=pos, end=lsp.Position(line=pos.line, character=pos.character + 5)),
            text="Floaty")]))
    diags = await s.diagnostics(uri)
    assert [d.code for d in diags] == ["E010"]


async def test_utf16_columns(client: LanguageClient, tmp_path):
    s = Session(client)
    text = 'signature S {\n  """Émoji 🎉 here"""\n  in  x: str "😀😀"\n  out y: Nope\n}\n'
    uri = await s.open(tmp_path / "u.lmp", text)
    diags = await s.diagnostics(uri)
    d = next(d for d in diags if d.code == "E010")
    assert d.range.start == lsp.Position(line=3, character=9)
    text2 = 'signature S {\n  in  x: str "😀😀" \n  out y: Nope "🎉"\n}\ntype T = "🎉" | Bad\n'
    await s.replace(uri, text2)
    diags = await s.diagnostics(uri)
    bad = next(d for d in diags if "only string literals" in d.message or d.code in ("E010", "E011") and "Bad" in d.message)
    # "Bad" sits after a surrogate pair: 2 UTF-16 units for one code point
    assert bad.range.start.character == len('type T = "🎉" | '.encode("utf-16-le")) // 2


async def test_hover_field_signature_predictor_type_tool_model(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)

    async def hover(needle: str, nth: int = 0, delta: int = 1) -> str:
        res = await client.text_document_hover_async(lsp.HoverParams(
            text_document=s.tdi(uri), position=position_of(PROGRAM, needle, nth, delta)))
        assert res is not None, needle
        return res.contents.value

    field = await hover("event: str", delta=1)
    assert "in event: str" in field and "a short description of the event" in field
    sig = await hover("ClassifyEvent", nth=1)
    assert "Classify historic events." in sig and "out category: Category" in sig
    pred = await hover("classify(event")
    assert "Classify.classify" in pred and "ChainOfThought" in pred and "judge" in pred and "openai/gpt-4o" in pred
    typ = await hover("Category", nth=1)
    assert '"Wars and Conflicts" | "Politics and Governance" | "Science"' in typ
    tool = await hover("search(")
    assert "rag.search:search" in tool and "k: int = 3" in tool
    out_field = await hover("r.category", delta=3)
    assert "out category: Category" in out_field
    member = await hover('"Science" {', delta=2)
    assert "member of `Category`" in member
    role = await hover("using judge", delta=7)
    assert "openai/gpt-4o" in role


async def test_completion_input_fields_missing_first(client: LanguageClient, tmp_path):
    s = Session(client)
    text = PROGRAM.replace('r = classify(event: event, era: "modern")', "r = classify(era: \"x\", )")
    uri = await s.open(tmp_path / "p.lmp", text)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=position_of(text, 'era: "x", ', delta=len('era: "x", '))))
    items = sorted(res.items, key=lambda i: i.sort_text or i.label)
    labels = [i.label for i in items]
    assert labels[0] == "event"
    assert labels.index("event") < labels.index("era")


async def test_completion_output_fields_after_dot(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    text = PROGRAM.replace("  return (category: r.category)\n}", "  x = r.\n  return (category: r.category)\n}")
    await s.replace(uri, text)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=position_of(text, "x = r.", delta=len("x = r."))))
    labels = {i.label for i in res.items}
    assert {"category", "confidence", "reasoning"} <= labels
    assert "event" not in labels


async def test_completion_literal_members_roles_signatures_types(client: LanguageClient, tmp_path):
    s = Session(client)
    text = PROGRAM.replace('if r.category == "Science" {', 'if r.category == "')
    uri = await s.open(tmp_path / "p.lmp", text)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=position_of(text, 'r.category == "', delta=len('r.category == "'))))
    assert {"Wars and Conflicts", "Politics and Governance", "Science"} <= {i.label for i in res.items}

    text2 = PROGRAM.replace("using judge", "using ")
    await s.replace(uri, text2)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=position_of(text2, "using ", delta=6)))
    assert {"default", "judge"} <= {i.label for i in res.items}

    text3 = PROGRAM.replace("ChainOfThought(ClassifyEvent)", "ChainOfThought(")
    await s.replace(uri, text3)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=position_of(text3, "ChainOfThought(", delta=15)))
    assert "ClassifyEvent" in {i.label for i in res.items}

    text4 = PROGRAM.replace("  in  era: str\n", "  in  era: \n")
    await s.replace(uri, text4)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=position_of(text4, "in  era: ", delta=9)))
    assert {"str", "int", "list", "Category"} <= {i.label for i in res.items}

    text5 = PROGRAM + "\n"
    await s.replace(uri, text5)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=lsp.Position(line=text5.count("\n"), character=0)))
    assert {"signature", "module", "type", "tool"} <= {i.label for i in res.items}


async def test_definition_and_references_across_imports(client: LanguageClient, tmp_path):
    s = Session(client)
    lib = 'type Category = "a" | "b"\n\nsignature Tag {\n  in text: str\n  out label: Category\n}\n'
    main = ('import "lib.lmp"\n\nmodule M(text: str) -> (label: Category) {\n  let tag = Predict(Tag)\n'
            '  r = tag(text: text)\n  return (label: r.label)\n}\n')
    (tmp_path / "lib.lmp").write_text(lib)
    lib_uri = (tmp_path / "lib.lmp").as_uri()
    uri = await s.open(tmp_path / "main.lmp", main)
    assert await s.diagnostics(uri) == []
    loc = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=s.tdi(uri), position=position_of(main, "Predict(Tag)", delta=9)))
    assert loc.uri == lib_uri and loc.range.start == position_of(lib, "Tag")
    loc = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=s.tdi(uri), position=position_of(main, "r.label", delta=3)))
    assert loc.uri == lib_uri and loc.range.start == position_of(lib, "label")
    refs = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=s.tdi(uri), position=position_of(main, "Category"),
        context=lsp.ReferenceContext(include_declaration=True)))
    assert {(r.uri, r.range.start.line) for r in refs} == {(lib_uri, 0), (lib_uri, 4), (uri, 2)}
    # references from the imported file find the importing one (workspace scan + open buffers)
    await s.open(tmp_path / "lib.lmp", lib)
    refs = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=s.tdi(lib_uri), position=position_of(lib, "Tag"),
        context=lsp.ReferenceContext(include_declaration=False)))
    assert [(r.uri, r.range.start.line) for r in refs] == [(uri, 3)]


async def test_rename_is_a_workspace_edit(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    prep = await client.text_document_prepare_rename_async(lsp.PrepareRenameParams(
        text_document=s.tdi(uri), position=position_of(PROGRAM, "category: Category", delta=2)))
    assert prep is not None
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=s.tdi(uri), position=position_of(PROGRAM, "out category", delta=5), new_name="label"))
    edits = edit.changes[uri]
    # the field, its two reads r.category... and the example's key
    lines = sorted(e.range.start.line for e in edits)
    assert len(edits) == 5, lines
    new = _apply(PROGRAM, edits)
    assert "out label: Category" in new and "r.label ==" in new and 'label: "Wars and Conflicts"' in new
    assert "-> (category: Category)" in new  # the module's own output is a different symbol
    await s.replace(uri, new)
    assert await s.diagnostics(uri) == []


def _apply(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.split("\n")
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln) + 1)
    def off(p: lsp.Position) -> int:
        return offsets[p.line] + p.character
    for e in sorted(edits, key=lambda e: off(e.range.start), reverse=True):
        text = text[:off(e.range.start)] + e.new_text + text[off(e.range.end):]
    return text


async def test_document_and_workspace_symbols(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    syms = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=s.tdi(uri)))
    names = [x.name for x in syms]
    assert names[:5] == ["Category", "default", "judge", "ClassifyEvent", "search"]
    sig = next(x for x in syms if x.name == "ClassifyEvent")
    assert [c.name for c in sig.children] == ["event", "era", "category", "confidence"]
    mod = next(x for x in syms if x.name == "Classify")
    assert [c.name for c in mod.children] == ["classify"]
    ws = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="classif"))
    assert {"ClassifyEvent", "Classify", "classify"} <= {w.name for w in ws}


async def test_semantic_tokens_and_folding(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    caps = client.server_capabilities if hasattr(client, "server_capabilities") else None
    toks = await client.text_document_semantic_tokens_full_async(lsp.SemanticTokensParams(text_document=s.tdi(uri)))
    data = toks.data
    assert len(data) % 5 == 0 and len(data) > 20
    # decode: the first token is the comment on line 0, then `Category` as an enum declaration
    from lmp.lsp.features import TOKEN_TYPES
    decoded = []
    line = col = 0
    for i in range(0, len(data), 5):
        dl, dc, length, tt, mods = data[i:i + 5]
        line += dl
        col = col + dc if dl == 0 else dc
        decoded.append((line, col, length, TOKEN_TYPES[tt], mods))
    comments = [t for t in decoded if t[3] == "comment"]
    assert comments == [(0, 0, 8, "comment", 0)]
    assert (1, 5, 8, "enum", 1) in decoded
    assert any(t[3] == "interface" for t in decoded) and any(t[3] == "property" for t in decoded)
    del caps
    # Every later parse keeps its comments too (only the first parse of the server process did: the
    # comment callback was swapped in per parse, but Lark's lexer had copied the first one)
    other = await s.open(tmp_path / "q.lmp", PROGRAM)
    again = await client.text_document_semantic_tokens_full_async(lsp.SemanticTokensParams(text_document=s.tdi(other)))
    assert list(again.data[:5]) == [0, 0, 8, TOKEN_TYPES.index("comment"), 0]
    folds = await client.text_document_folding_range_async(lsp.FoldingRangeParams(text_document=s.tdi(uri)))
    starts = {f.start_line for f in folds}
    sig_line = position_of(PROGRAM, "signature ClassifyEvent").line
    mod_line = position_of(PROGRAM, "module Classify").line
    if_line = position_of(PROGRAM, "if r.category").line
    assert {sig_line, mod_line, if_line} <= starts


async def test_formatting(client: LanguageClient, tmp_path):
    s = Session(client)
    messy = PROGRAM.replace("model judge = \"openai/gpt-4o\"", "model   judge =   \"openai/gpt-4o\"")
    uri = await s.open(tmp_path / "p.lmp", messy)
    try:
        edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
            text_document=s.tdi(uri), options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    except Exception as exc:  # the formatter not landed yet: a clear error, never a crash
        assert "formatter is not available" in str(exc)
        return
    from lmp.fmt import format_source
    assert edits and edits[0].new_text == format_source(messy, str(tmp_path / "p.lmp"))
    assert 'model judge = "openai/gpt-4o"' in edits[0].new_text
    # a file with syntax errors is left alone
    await s.replace(uri, messy + "\nmodule {")
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=s.tdi(uri), options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert not edits


async def test_code_lens_preview_and_output_schema(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(text_document=s.tdi(uri)))
    # the playground's "▶ Run" lenses (tests/lsp/test_playground.py) sit beside the preview lenses
    lenses = [lens for lens in lenses if lens.command.command != "lmp.run"]
    by_arg = {tuple(lens.command.arguments): lens for lens in lenses}
    assert (uri, "ClassifyEvent") in by_arg and (uri, "Classify.classify") in by_arg
    assert all(lens.command.command == "lmp.previewPrompt" and lens.command.title == "Preview prompt"
               for lens in lenses)
    assert by_arg[(uri, "ClassifyEvent")].range.start.line == position_of(PROGRAM, "signature ClassifyEvent").line
    try:
        import lmp.runtime.preview  # noqa: F401
    except ImportError:
        try:
            await client.protocol.send_request_async("lmp/previewPrompt", {"uri": uri, "predictor": "Classify.classify"})
        except Exception as exc:
            assert "not available" in str(exc)
            return
        raise AssertionError("expected an error while the preview API is missing") from None
    res = await client.protocol.send_request_async("lmp/previewPrompt", {"uri": uri, "predictor": "Classify.classify"})
    res = _plain(res)
    assert res["predictor"] == "Classify.classify"
    assert res["messages"] and res["messages"][0]["role"] == "system"
    assert "Classify historic events." in "".join(m["content"] for m in res["messages"])
    assert res["state"] is None
    assert res["tools"] is None  # only ReAct predictors say how their tools go to the model
    # by position: the cursor on the predictor's line
    res2 = _plain(await client.protocol.send_request_async("lmp/previewPrompt", {
        "uri": uri, "position": {"line": position_of(PROGRAM, "let classify").line, "character": 8}}))
    assert res2["predictor"] == "Classify.classify"
    # the code lens command through workspace/executeCommand returns the same
    res3 = _plain(await client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command="lmp.previewPrompt", arguments=[uri, "Classify.classify"])))
    assert res3 == res
    # example inputs
    res4 = _plain(await client.protocol.send_request_async("lmp/previewPrompt", {
        "uri": uri, "predictor": "ClassifyEvent", "example": "ClassifyEvent"}))
    assert "Battle of Nineveh" in "".join(m["content"] for m in res4["messages"])
    schema = _plain(await client.protocol.send_request_async("lmp/outputSchema", {"uri": uri, "predictor": "ClassifyEvent"}))
    props = schema["schema"]["properties"]
    assert props["category"]["enum"] == ["Wars and Conflicts", "Politics and Governance", "Science"]
    assert props["confidence"]["type"] == "number"


def _plain(obj):
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


async def test_signature_help(client: LanguageClient, tmp_path):
    s = Session(client)
    text = PROGRAM.replace('r = classify(event: event, era: "modern")', "r = classify(event: event, ")
    uri = await s.open(tmp_path / "p.lmp", text)
    res = await client.text_document_signature_help_async(lsp.SignatureHelpParams(
        text_document=s.tdi(uri), position=position_of(text, "event: event, ", delta=len("event: event, "))))
    sig = res.signatures[0]
    assert sig.label.startswith("classify(event: str, era: str) -> (category: Category")
    assert res.active_parameter == 1
    text2 = text.replace("r = classify(event: event, ", "r = search(")
    await s.replace(uri, text2)
    res = await client.text_document_signature_help_async(lsp.SignatureHelpParams(
        text_document=s.tdi(uri), position=position_of(text2, "search(", delta=7)))
    assert res.signatures[0].label == "search(query: str, k: int = 3) -> list[str]"


async def test_quick_fix_code_action(client: LanguageClient, tmp_path):
    s = Session(client)
    bad = PROGRAM.replace("ChainOfThought(ClassifyEvent)", "ChainOfThought(ClasifyEvent)")
    uri = await s.open(tmp_path / "p.lmp", bad)
    diags = await s.diagnostics(uri)
    d = next(d for d in diags if "ClasifyEvent" in d.message)
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=s.tdi(uri), range=d.range, context=lsp.CodeActionContext(diagnostics=[d])))
    fix = next(a for a in actions if a.kind == lsp.CodeActionKind.QuickFix)
    assert "ClassifyEvent" in fix.title
    fixed = _apply(bad, fix.edit.changes[uri])
    assert fixed == PROGRAM


async def test_dependents_get_rechecked(client: LanguageClient, tmp_path):
    s = Session(client)
    lib = 'signature Tag {\n  in text: str\n  out label: str\n}\n'
    main = 'import "lib.lmp"\n\nmodule M(text: str) -> (label: str) {\n  let tag = Predict(Tag)\n  r = tag(text: text)\n  return (label: r.label)\n}\n'
    lib_uri = await s.open(tmp_path / "lib.lmp", lib)
    uri = await s.open(tmp_path / "main.lmp", main)
    assert await s.diagnostics(uri) == []
    client.diagnostics.pop(uri, None)
    await s.replace(lib_uri, lib.replace("signature Tag", "signature Tagger"))
    diags = await s.diagnostics(uri)
    assert any("Tag" in d.message for d in diags)
