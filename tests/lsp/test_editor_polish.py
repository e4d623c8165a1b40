"""Issue 15, measured editor defects, each over a real `lmp lsp` process (pytest-lsp)."""

from __future__ import annotations

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from tests.lsp.conftest import PROGRAM, Session, position_of
from tests.lsp.test_features import _plain

STATEMENT_ONLY = {"let", "return", "elif", "else", "for", "if"}
BINARY = {"and", "or", "in"}


async def _complete(client: LanguageClient, s: Session, uri: str, text: str, needle: str,
                    trigger: str | None = None) -> list[lsp.CompletionItem]:
    ctx = (lsp.CompletionContext(trigger_kind=lsp.CompletionTriggerKind.TriggerCharacter, trigger_character=trigger)
           if trigger else lsp.CompletionContext(trigger_kind=lsp.CompletionTriggerKind.Invoked))
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=s.tdi(uri), position=position_of(text, needle, delta=len(needle)), context=ctx))
    return list(res.items) if res is not None else []


def _keywords(items: list[lsp.CompletionItem]) -> set[str]:
    return {i.label for i in items if i.kind == lsp.CompletionItemKind.Keyword}


# ---------------------------------------------------------------- a. completion


async def test_space_is_not_a_completion_trigger(client: LanguageClient, tmp_path):
    s = Session(client)
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    triggers = client.initialize_result.capabilities.completion_provider.trigger_characters
    assert " " not in triggers and "." in triggers and "(" in triggers
    # a client that still sends a space as the trigger character gets nothing inside a body
    text = PROGRAM.replace('  r = classify(event: event, era: "modern")\n',
                           '  r = classify(event: event, era: "modern")\n  x = r \n')
    await s.replace(uri, text)
    assert await _complete(client, s, uri, text, "  x = r ", trigger=" ") == []


async def test_after_assignment_no_statement_keywords(client: LanguageClient, tmp_path):
    s = Session(client)
    text = PROGRAM.replace('  r = classify(event: event, era: "modern")\n',
                           '  r = classify(event: event, era: "modern")\n  y = \n')
    uri = await s.open(tmp_path / "p.lmp", text)
    items = await _complete(client, s, uri, text, "  y = ")
    labels = {i.label for i in items}
    assert not (_keywords(items) & (STATEMENT_ONLY | BINARY | {"using"})), _keywords(items)
    assert {"not", "true", "false", "none"} <= _keywords(items)
    assert {"r", "event", "search"} <= labels  # names that can start an expression


async def test_keywords_by_position(client: LanguageClient, tmp_path):
    s = Session(client)
    anchor = '  r = classify(event: event, era: "modern")\n'
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)

    async def keywords_at(line: str, needle: str) -> tuple[set[str], list[lsp.CompletionItem]]:
        text = PROGRAM.replace(anchor, anchor + line)
        await s.replace(uri, text)
        items = await _complete(client, s, uri, text, needle)
        return _keywords(items), items

    start, _ = await keywords_at("  \n", anchor + "  ")  # an empty line in a body: a statement starts
    assert {"let", "if", "for", "return"} <= start and not ({"elif", "else", "and", "or", "using"} & start)
    after_operand, _ = await keywords_at("  z = r.category \n", "z = r.category ")
    assert BINARY <= after_operand and not (STATEMENT_ONLY & after_operand)
    iterable, _ = await keywords_at("  for c in \n", "for c in ")
    assert not (STATEMENT_ONLY & iterable) and "not" in iterable
    after_brace, _ = await keywords_at('  if r.category == "Science" {\n    z = 1\n  }  \n', "  }  ")
    assert after_brace == {"elif", "else"}
    annotated, items = await keywords_at("  n: \n", "  n: ")
    assert {"str", "int", "Category"} <= {i.label for i in items} and not annotated


async def test_trigger_characters_only_where_they_start_something(client: LanguageClient, tmp_path):
    s = Session(client)
    text = PROGRAM.replace('  r = classify(event: event, era: "modern")\n',
                           '  r = classify(event: event, era: "modern")\n  w = (1, 2)\n  v = "a:\n')
    uri = await s.open(tmp_path / "p.lmp", text)
    # `(` of a parenthesised expression, `,` outside a call, `:` inside a string: no popup
    assert await _complete(client, s, uri, text, "  w = (", trigger="(") == []
    assert await _complete(client, s, uri, text, "  w = (1,", trigger=",") == []
    assert await _complete(client, s, uri, text, '  v = "a:', trigger=":") == []
    # `(` of a call still lists the inputs
    items = await _complete(client, s, uri, PROGRAM, "classify(", trigger="(")
    assert {"event", "era"} <= {i.label for i in items}


# ---------------------------------------------------------------- b. one error per unfinished statement


async def test_unfinished_line_is_one_error(client: LanguageClient, tmp_path):
    s = Session(client)
    anchor = '  r = classify(event: event, era: "modern")\n'
    uri = await s.open(tmp_path / "p.lmp", PROGRAM)
    for unfinished in ("  x = r.\n", "  x = classify(\n", "  x = classify(event: \n", "  x = r.category ==\n"):
        text = PROGRAM.replace(anchor, anchor + unfinished)
        await s.replace(uri, text)
        diags = await s.diagnostics(uri)
        assert len(diags) == 1, (unfinished, [(d.code, d.message) for d in diags])
        assert diags[0].code == "E001" and diags[0].range.start.line == text[:text.index(unfinished)].count("\n")


async def test_follow_on_diagnostics_elsewhere_are_kept(client: LanguageClient, tmp_path):
    s = Session(client)
    anchor = '  r = classify(event: event, era: "modern")\n'
    text = PROGRAM.replace(anchor, anchor + "  x = r.\n  y = nope\n")
    uri = await s.open(tmp_path / "p.lmp", text)
    diags = await s.diagnostics(uri)
    assert sorted(d.code for d in diags) == ["E001", "E030"]  # the unknown name on the next line is real


# ---------------------------------------------------------------- d. go to definition on "pkg.mod:fn"


async def test_definition_of_python_tool_and_retriever_targets(client: LanguageClient, tmp_path):
    s = Session(client)
    pkg = tmp_path / "rag"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    marker = tmp_path / "imported.txt"
    (pkg / "search.py").write_text(
        f'"""Search."""\nimport pathlib\npathlib.Path({str(marker)!r}).write_text("imported")\n\n\n'
        "def helper():\n    pass\n\n\nasync def search(query: str, k: int = 3) -> list[str]:\n    return []\n\n\n"
        "class Store:\n    def lookup(self, q):\n        return []\n")
    text = PROGRAM.replace('tool search(query: str, k: int = 3) -> list[str] = "rag.search:search"\n',
                           'tool search(query: str, k: int = 3) -> list[str] = "rag.search:search"\n'
                           'retriever store = "rag.search:Store.lookup"\n')
    uri = await s.open(tmp_path / "p.lmp", text)
    loc = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=s.tdi(uri), position=position_of(text, '"rag.search:search"', delta=5)))
    assert loc is not None and loc.uri == (pkg / "search.py").as_uri()
    assert loc.range.start == lsp.Position(line=9, character=10)  # `search` in `async def search(`
    assert loc.range.end == lsp.Position(line=9, character=16)
    loc = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=s.tdi(uri), position=position_of(text, '"rag.search:Store.lookup"', delta=14)))
    assert loc is not None and loc.range.start == lsp.Position(line=14, character=8)
    assert not marker.exists()  # found by reading the file, never by importing it
    # a target that does not resolve: no location, no error
    text2 = text.replace('"rag.search:search"', '"nowhere.mod:fn"')
    await s.replace(uri, text2)
    loc = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=s.tdi(uri), position=position_of(text2, '"nowhere.mod:fn"', delta=3)))
    assert loc is None or loc == []


# ---------------------------------------------------------------- e. inlay hints


async def test_inlay_hints_show_inferred_types(client: LanguageClient, tmp_path):
    s = Session(client)
    text = PROGRAM.replace('  if r.category == "Science" {',
                           '  n = 3\n  c = r.category\n  xs = search(query: "a")\n  c = r.category\n'
                           '  if r.category == "Science" {')
    uri = await s.open(tmp_path / "p.lmp", text)
    assert client.initialize_result.capabilities.inlay_hint_provider
    lines = text.split("\n")
    hints = await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        text_document=s.tdi(uri), range=lsp.Range(start=lsp.Position(line=0, character=0),
                                                  end=lsp.Position(line=len(lines), character=0))))
    got = {(h.position.line, h.position.character): h.label for h in hints}
    assert all(h.kind == lsp.InlayHintKind.Type for h in hints)
    assert got[(position_of(text, "r = classify").line, 3)] == ": ClassifyEvent"
    assert got[(position_of(text, "c = r.category").line, 3)] == ": Category"
    assert got[(position_of(text, "xs = search").line, 4)] == ": list[str]"
    let = position_of(text, "using judge", delta=len("using judge"))
    assert got[(let.line, let.character)] == "-> (category: Category, confidence: float)"
    assert (position_of(text, "n = 3").line, 3) not in got  # a literal's type is in plain sight
    assert (position_of(text, "c = r.category", nth=1).line, 3) not in got  # only where `c` is first bound
    # only the range asked for
    only = await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        text_document=s.tdi(uri), range=lsp.Range(start=lsp.Position(line=let.line + 1, character=0),
                                                  end=lsp.Position(line=let.line + 2, character=0))))
    assert [h.label for h in only] == [": ClassifyEvent"]


# ---------------------------------------------------------------- c. preview of a predictor fed by a retriever

RAG = '''\
retriever docs = bm25("corpus.jsonl", k: 2)

signature Answer {
  in  context: list[str] "passages"
  in  question: str
  in  style: str
  out answer: str
}

module RAG(question: str, context: list[str] = []) -> (answer: str) {
  let answer = Predict(Answer)
  context = docs(question)
  a = answer(context: context, question: question, style: "terse")
  return (answer: a.answer)
}

example RAG {
  question: "Who wrote Hamlet?"
  context: []
}
'''


async def test_preview_marks_retrieved_inputs_filled_at_run_time(client: LanguageClient, tmp_path):
    s = Session(client)
    (tmp_path / "corpus.jsonl").write_text('{"text": "Hamlet is a tragedy by William Shakespeare."}\n')
    uri = await s.open(tmp_path / "rag.lmp", RAG)
    res = await client.protocol.send_request_async("lmp/previewPrompt", {"uri": uri, "predictor": "RAG.answer"})
    res = _plain(res)
    user = res["messages"][-1]["content"]
    assert "[[ ## context ## ]]\n<filled at run time: context = docs(question)>" in user
    assert "[]" not in user.split("[[ ## question ## ]]")[0].split("[[ ## context ## ]]")[-1]
    assert "Who wrote Hamlet?" in user and "terse" in user  # the example's input and the call's literal
    assert "Shakespeare" not in user  # the retriever was not run
    assert res["filled_at_run_time"] == {"context": "context = docs(question)"}
