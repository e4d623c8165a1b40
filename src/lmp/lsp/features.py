"""Editor features computed from a file's IR and index: hover, completion, signature help,
symbols, semantic tokens, folding ranges, code lenses. Pure functions; the server wires them."""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types as lsp

from lmp.diagnostics import Span
from lmp.ir import nodes as ir
from lmp.ir.types import PRIMITIVES, SPECIAL_TYPES, LiteralType, RecordType, Type, strip_optional
from lmp.lsp.complete_tests import enclosing_test, items_in_test, target_items
from lmp.lsp.index import FileIndex, Local, Occurrence, render_signature, render_type_decl, type_detail
from lmp.lsp.positions import LineMap

KEYWORDS = ["type", "signature", "module", "metric", "tool", "retriever", "model", "example", "test", "import",
            "let", "in", "out", "using", "as", "for", "if", "elif", "else", "return", "and", "or", "not",
            "true", "false", "none", "expect", "check", "contains"]
TOP_KEYWORDS = ["type", "signature", "module", "metric", "tool", "retriever", "model", "example", "test", "import"]
BODY_KEYWORDS = ["let", "for", "if", "elif", "else", "return", "and", "or", "not", "in", "using", "true",
                 "false", "none"]
# Keywords by where they can stand in a module body (the grammar's `stmt` and `expr`).
STATEMENT_KEYWORDS = ["let", "if", "for", "return"]
EXPR_START_KEYWORDS = ["not", "true", "false", "none"]
AFTER_OPERAND_KEYWORDS = ["and", "or", "in", "not", "contains"]  # binary operators (`not in`)
# What each trigger character may open; anything else typed is left to the editor's word-based popup.
TRIGGER_CONTEXTS = {".": "attribute", "(": "call", ",": "call", '"': "string", ":": "colon"}
BUILTIN_TYPES = [*PRIMITIVES, "list", "dict", *SPECIAL_TYPES]  # Image, History

# ---------------------------------------------------------------- hover


def _code(text: str) -> str:
    return f"```lmp\n{text}\n```"


def _src(prog_text: str, expr: ir.Expr | None) -> str:
    if expr is None:
        return ""
    s = expr.span
    return prog_text[s.start:s.end] if s.end > s.start else ""


def render_params(params: list[ir.Param], text: str) -> str:
    out = []
    for p in params:
        piece = p.name
        if p.annotated:
            piece += f": {p.type.render()}"
        if p.default is not None:
            piece += f" = {_src(text, p.default) or '...'}"
        out.append(piece)
    return ", ".join(out)


def hover_text(occ: Occurrence, index: FileIndex, files: dict[str, ir.Program]) -> str | None:
    obj = occ.obj
    kind = occ.kind
    text = index.text

    def text_of(path: str | None) -> str:
        prog = files.get(path or "")
        return prog.text if prog is not None else text

    if kind in ("type", "enum") and isinstance(obj, ir.TypeDecl):
        return _code(render_type_decl(obj)) + _where(obj)
    if kind == "member":
        decl, member = obj
        return _code(f'"{member}"') + f"\n\nmember of `{decl.name}` = {decl.type.render_members()}"
    if kind == "signature" and isinstance(obj, ir.Signature):
        return _code(render_signature(obj)) + _where(obj)
    if kind == "field":
        sig, f = obj
        parts = [_code(f"{f.role} {f.name}: {f.type.render()}")]
        if f.description:
            parts.append(f.description)
        t = strip_optional(f.type)
        if isinstance(t, (LiteralType, RecordType)) and t.name:
            parts.append(f"`{type_detail(f.type)}`")
        owner = "inline signature of `" + sig.name + "`" if sig.inline else f"signature `{sig.name}`"
        parts.append(f"{'input' if f.role == 'in' else 'output'} field of {owner}")
        return "\n\n".join(parts)
    if kind == "predictor" and isinstance(obj, ir.Predictor):
        sig = obj.signature
        sig_name = obj.signature_ref or (f'"{_inline_spec(sig)}"' if sig is not None else "?")
        head = f"let {obj.name} = {obj.kind}({sig_name})"
        if obj.model_role:
            head += f" using {obj.model_role}"
        parts = [_code(head), f"predictor `{obj.id}` · kind `{obj.kind}` · module `{obj.owner}`"]
        if obj.model_role:
            model = index.program.models.get(obj.model_role)
            parts.append(f"model role `{obj.model_role}`" + (f" = `{model.model}`" if model else " (not declared)"))
        else:
            parts.append("model role `default`")
        if sig is not None:
            parts.append(_code(render_signature(sig)))
        return "\n\n".join(parts)
    if kind in ("module", "metric") and isinstance(obj, ir.Module):
        head = f"{'metric' if obj.is_metric else 'module'} {obj.name}({render_params(obj.params, text_of(obj.path))})"
        if obj.outputs:
            head += " -> (" + ", ".join(f"{f.name}: {f.type.render()}" for f in obj.outputs) + ")"
        elif obj.returns is not None:
            head += f" -> {obj.returns.render()}"
        parts = [_code(head)]
        if obj.predictors:
            parts.append("predictors: " + ", ".join(f"`{p.name}` ({p.kind})" for p in obj.predictors))
        return "\n\n".join(parts) + _where(obj)
    if kind == "tool" and isinstance(obj, ir.Tool):
        head = f"tool {obj.name}({render_params(obj.params, text_of(obj.path))}) -> {obj.returns.render()}"
        parts = [_code(head)]
        if obj.description:
            parts.append(obj.description)
        parts.append(f'Python target: `"{obj.target}"` (imported only when the program runs)')
        return "\n\n".join(parts) + _where(obj)
    if kind == "retriever" and isinstance(obj, ir.Retriever):
        if obj.kind == "python":
            return _code(f'retriever {obj.name} = "{obj.target}"') + "\n\nPython retriever (imported only at run time)"
        return _code(f"retriever {obj.name}") + f"\n\n{obj.kind} retriever" + _where(obj)
    if kind == "model" and isinstance(obj, ir.ModelDecl):
        params = ", ".join(f"{k}: {v!r}" for k, v in obj.params.items())
        return _code(f'model {obj.name} = "{obj.model}"' + (f" {{ {params} }}" if params else "")) + \
            f"\n\nmodel role `{obj.name}`" + _where(obj)
    if kind == "param":
        owner, p = obj
        t = p.type.render() if p.annotated else "any"
        label = "tool" if isinstance(owner, ir.Tool) else ("metric" if getattr(owner, "is_metric", False) else "module")
        return _code(f"{p.name}: {t}") + f"\n\nparameter of {label} `{owner.name}`"
    if kind == "output":
        mod, f = obj
        return _code(f"out {f.name}: {f.type.render()}") + (f"\n\n{f.description}" if f.description else "") + \
            f"\n\noutput of module `{mod.name}`"
    if kind == "variable" and isinstance(obj, Local):
        return _code(f"{obj.name}: {local_type(obj)}") + "\n\nlocal variable"
    if kind == "builtin_type":
        return _code(occ.key[1]) + "\n\nbuilt-in type"
    if kind == "predictor_kind":
        return _code(occ.key[1]) + "\n\n" + PREDICTOR_DOCS.get(occ.key[1], "predictor kind")
    return None


PREDICTOR_DOCS = {
    "Predict": "One call to the model with the signature's inputs; parses the outputs.",
    "ChainOfThought": "Asks for a `reasoning` output before the signature's outputs.",
    "ReAct": "A tool-using loop: thought, tool call, observation, until `finish` (options: tools, max_iters).",
    "Refine": "Runs the predictor several times and keeps the best by a reward (options: N, reward, threshold).",
    "BestOfN": "Samples N times and keeps the best by a reward (options: N, reward).",
}


def _where(decl: ir.Decl) -> str:
    import os

    return f"\n\ndeclared in `{os.path.basename(decl.path)}`" if decl.path else ""


def _inline_spec(sig: ir.Signature | None) -> str:
    if sig is None:
        return ""
    ins = ", ".join(f"{f.name}: {f.type.render()}" for f in sig.inputs)
    outs = ", ".join(f"{f.name}: {f.type.render()}" for f in sig.outputs)
    return f"{ins} -> {outs}"


def local_type(local: Local) -> str:
    if local.signature is not None:
        return "(" + ", ".join(f"{f.name}: {f.type.render()}" for f in local.signature.outputs) + ")"
    if local.record is not None:
        return local.record.render()
    if local.type is not None:
        return local.type.render()
    return "any"


# ---------------------------------------------------------------- completion context

_CALL_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\($")


def _strip_strings(s: str) -> str:
    return re.sub(r'"(?:[^"\\\n]|\\.)*"', lambda m: '"' + "x" * (len(m.group()) - 2) + '"', s)


def open_call(text: str, offset: int, limit: int = 2000) -> tuple[str, int, str] | None:
    """The innermost call whose `(` is open at `offset`: (callee name, offset of `(`, text inside so far)."""
    lo = max(0, offset - limit)
    seg = _strip_strings(text[lo:offset])
    depth = 0
    i = len(seg) - 1
    while i >= 0:
        ch = seg[i]
        if ch in ")]}":
            depth += 1
        elif ch in "[{":
            if depth == 0:
                return None
            depth -= 1
        elif ch == "(":
            if depth == 0:
                m = _CALL_RE.search(seg[: i + 1])
                if not m:
                    return None
                return m.group(1), lo + i, seg[i + 1:]
            depth -= 1
        i -= 1
    return None


def _used_kwargs(inside: str) -> set[str]:
    return set(re.findall(r"(?:^|[,(])\s*([A-Za-z_]\w*)\s*[:=]", inside))


def _top_level_commas(inside: str) -> int:
    depth = 0
    n = 0
    for ch in inside:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            n += 1
    return n


def _item(label: str, kind: lsp.CompletionItemKind, detail: str | None = None, sort: str = "5",
          insert: str | None = None, doc: str | None = None) -> lsp.CompletionItem:
    return lsp.CompletionItem(
        label=label, kind=kind, detail=detail, sort_text=f"{sort}{label}", insert_text=insert,
        documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=doc) if doc else None)


def completions(index: FileIndex, text: str, offset: int, trigger: str | None = None) -> list[lsp.CompletionItem]:
    """Completion items at `offset` of `text` (the buffer as the user sees it; the IR may be older).
    `trigger`: the character that opened the popup (LSP triggerCharacter), if one did: a popup opened by
    a character only shows what that character starts (fields after `.`, arguments after `(`)."""
    items = _completions(index, text, offset, trigger)
    return items


def _completions(index: FileIndex, text: str, offset: int, trigger: str | None) -> list[lsp.CompletionItem]:
    prog = index.program
    line_start = text.rfind("\n", 0, offset) + 1
    prefix = text[line_start:offset]
    scope = index.scope_at(offset)
    K = lsp.CompletionItemKind
    wanted = TRIGGER_CONTEXTS.get(trigger or "") if trigger else None
    if trigger and wanted is None:
        return []  # a client that still sends ` ` (or another character) as a trigger: nothing to offer

    # inside a string: only literal members after `==` make sense
    m = re.search(r'([A-Za-z_][\w.]*)\s*(?:==|!=)\s*"([^"]*)$', prefix)
    if m:
        return _member_items(index, scope, m.group(1), quoted=True)
    if prefix.count('"') % 2 == 1:
        return []
    # comments
    if "#" in _strip_strings(prefix):
        return []

    m = re.search(r"([A-Za-z_][\w.]*)\s*(?:==|!=)\s*$", prefix)
    if m:
        return _member_items(index, scope, m.group(1), quoted=False)

    m = re.search(r"\busing\s+\w*$", prefix)
    if m:
        return [_item(name, K.EnumMember, f'"{d.model}"', "0") for name, d in prog.models.items()] + (
            [] if "default" in prog.models else [_item("default", K.EnumMember, "the default model role", "1")])

    m = re.search(r"([A-Za-z_]\w*)\.(\w*)$", prefix)
    if m:
        return _attribute_items(index, scope, m.group(1), offset)
    if wanted in ("attribute", "string"):
        return []  # a `.` after a number or a `"` opening a string: nothing to complete

    header = re.match(r"^(?:module|metric|tool)\s+\w+\s*\(", prefix)
    if header is not None and open_call(text, offset) is not None:
        # a declaration's parameters: a new name, or its type after `:`
        if re.search(r"[(,]\s*\w+\s*:\s*[\w\[\], ]*$", prefix):
            return _type_items(index)
        return []

    call = open_call(text, offset)
    if wanted == "colon" and call is None and scope is not None and not re.search(r"^\s*\w+\s*:\s*$", prefix):
        return []
    if wanted == "call" and call is None:
        return []
    if call is not None:
        name, paren, inside = call
        last = re.split(r"[,(]", inside)[-1]
        at_arg_name = re.fullmatch(r"\s*\w*", last) is not None
        if name in ir.PREDICTOR_KINDS:
            if _top_level_commas(inside) == 0:
                return [_item(n, K.Interface, "signature", "0", doc=_code(render_signature(s)))
                        for n, s in prog.signatures.items()]
            return [_item(o, K.Property, "option", "0", insert=f"{o}: ")
                    for o in ("tools", "max_iters", "N", "reward", "threshold", "temperature")]
        if at_arg_name:
            items = _argument_items(index, scope, name, inside)
            if items:
                return items + _scope_items(index, scope, sort="6")
        return _scope_items(index, scope)

    # type positions: after `in x:` / `out x:` / `name:` in a record or params, `type X =`, `->`
    if re.search(r"^\s*(?:in|out)\s+\w+\s*:\s*[\w\[\], ]*$", prefix) or re.search(r"^type\s+\w+\s*=\s*[\w\s|\"]*$", prefix) \
            or re.search(r"->\s*\(?[^)]*:\s*\w*$", prefix) or re.search(r"->\s*\w*$", prefix) \
            or re.search(r"\[\s*\w*$", prefix) and re.search(r"\b(?:list|dict)\[[^\]]*$", prefix):
        return _type_items(index)

    if wanted == "call":
        return []
    if scope is None and re.match(r"^test\s+\w+\s+for\s+\w*$", prefix):
        return target_items(prog)
    test = enclosing_test(text, offset) if scope is None else None
    if test is not None and wanted != "colon":
        return items_in_test(prog, test, prefix)
    if scope is None:
        if wanted == "colon":
            return []
        if re.fullmatch(r"\s*\w*", prefix):
            if prefix.startswith((" ", "\t")):
                return [_item(k, K.Keyword, sort="1") for k in ("in", "out")] + _type_items(index)
            return [_item(k, K.Keyword, sort="0") for k in TOP_KEYWORDS]
        m = re.match(r"^example\s+\w*$", prefix)
        if m:
            return [_item(n, K.Interface, "signature", "0") for n in prog.signatures] + [
                _item(p.id, K.Method, "predictor", "1") for p in prog.predictors().values()]
        return _type_items(index)
    return _body_items(index, scope, prefix, wanted)


def _body_items(index: FileIndex, scope: Any, prefix: str, wanted: str | None) -> list[lsp.CompletionItem]:
    """Inside a module body, outside calls: keywords only where the grammar allows them."""
    K = lsp.CompletionItemKind
    code = _strip_strings(prefix)
    before = re.sub(r"[A-Za-z_]\w*$", "", code)  # the line without the word being typed
    bare = before.strip()

    def kw(words: list[str]) -> list[lsp.CompletionItem]:
        return [_item(k, K.Keyword, sort="7") for k in words]

    if re.fullmatch(r"\w+\s*:\s*", bare) or re.fullmatch(r"\w+\s*:\s*", code.strip()):
        return _type_items(index)  # `x: ` an annotated assignment's type
    if wanted == "colon":
        return []
    if not bare:
        return kw(STATEMENT_KEYWORDS) + _scope_items(index, scope)  # the start of a statement
    if bare == "}":
        return kw(["elif", "else"])
    if re.fullmatch(r"(?:let|for)\s+", before.lstrip()):
        return []  # a new name
    if re.fullmatch(r"for\s+\w+\s+", before.lstrip()):
        return kw(["in"])
    if re.search(r"(?:[=<>!+\-*/%\[(,:]|\b(?:return|if|elif|and|or|not|in))\s*$", before):
        return kw(EXPR_START_KEYWORDS) + _scope_items(index, scope)  # where an operand goes
    if re.search(r"(?:[\w)\]\"])\s+$", before):
        # after a complete operand: a binary keyword operator, or `using` closing a `let`
        words = list(AFTER_OPERAND_KEYWORDS)
        if re.match(r"\s*let\s+\w+\s*=", before):
            words.append("using")
        return kw(words)
    return []


def _type_items(index: FileIndex) -> list[lsp.CompletionItem]:
    K = lsp.CompletionItemKind
    items = [_item(t, K.TypeParameter, "built-in type", "1") for t in BUILTIN_TYPES]
    for name, decl in index.program.types.items():
        items.append(_item(name, K.Enum if isinstance(decl.type, LiteralType) else K.Struct,
                           type_detail(decl.type), "0", doc=_code(render_type_decl(decl))))
    return items


def _scope_items(index: FileIndex, scope: Any, sort: str = "5") -> list[lsp.CompletionItem]:
    K = lsp.CompletionItemKind
    prog = index.program
    items: list[lsp.CompletionItem] = []
    if scope is not None:
        for name, local in scope.locals.items():
            if local.kind == "predictor":
                items.append(_item(name, K.Method, f"{local.obj.kind} predictor", sort))
            elif local.kind == "param":
                items.append(_item(name, K.Variable, f"parameter: {local.type.render() if local.type else 'any'}", sort))
            else:
                items.append(_item(name, K.Variable, local_type(local), sort))
    for name, t in prog.tools.items():
        items.append(_item(name, K.Function, f"tool -> {t.returns.render()}", sort))
    for name in prog.retrievers:
        items.append(_item(name, K.Function, "retriever", sort))
    for name, m in prog.modules.items():
        if scope is None or name != scope.module.name:
            items.append(_item(name, K.Module, "metric" if m.is_metric else "module", sort))
    return items


def _argument_items(index: FileIndex, scope: Any, name: str, inside: str) -> list[lsp.CompletionItem]:
    K = lsp.CompletionItemKind
    prog = index.program
    used = _used_kwargs("(" + inside)
    params: list[tuple[str, str, str | None, bool]] = []  # name, type, description, required
    if scope is not None and name in scope.locals and scope.locals[name].kind == "predictor":
        sig = scope.locals[name].obj.signature
        if sig is None:
            return []
        params = [(f.name, f.type.render(), f.description, f.default is None) for f in sig.inputs]
    elif name in prog.tools:
        params = [(p.name, p.type.render(), None, p.default is None) for p in prog.tools[name].params]
    elif name in prog.modules:
        params = [(p.name, p.type.render() if p.annotated else "any", None, p.default is None)
                  for p in prog.modules[name].params]
    else:
        return []
    items = []
    for i, (pname, ptype, desc, _req) in enumerate(params):
        missing = pname not in used
        items.append(_item(pname, K.Field, f"{ptype}" + ("" if missing else " (given)"),
                           ("0" if missing else "8") + f"{i:03d}", insert=f"{pname}: ", doc=desc))
    return items


def _resolve_local(index: FileIndex, scope: Any, name: str) -> Local | None:
    return scope.locals.get(name) if scope is not None else None


def _attribute_items(index: FileIndex, scope: Any, name: str, offset: int) -> list[lsp.CompletionItem]:
    K = lsp.CompletionItemKind
    local = _resolve_local(index, scope, name)
    server = index.program.tool_servers.get(name) if local is None else None
    if server is not None:  # `Files.`: the MCP server's tools, as its manifest records them (nothing is started)
        from lmp.ir.mcp_manifest import tools_of

        tools = tools_of(server) or {}
        return [_item(n, K.Function, f"({', '.join(f'{p.name}: {p.type.render()}' for p in t.params)}) -> "
                      f"{t.returns.render()}", "0" + f"{i:03d}", doc=t.description)
                for i, (n, t) in enumerate(tools.items())]
    if local is None:
        return []
    if local.signature is not None:
        fields = [(f.name, f.type, f.description) for f in local.signature.outputs]
        if local.signature is not None and scope is not None:
            pred = _pred_of_signature(scope, local.signature)
            if pred is not None and pred.kind == "ChainOfThought":
                fields.append(("reasoning", PRIMITIVES["str"], "the model's reasoning (ChainOfThought)"))
    elif local.record is not None:
        fields = [(f.name, f.type, f.description) for f in local.record.fields]
    else:
        t = strip_optional(local.type) if local.type is not None else None
        if isinstance(t, RecordType):
            fields = [(f.name, f.type, f.description) for f in t.fields]
        else:
            return []
    return [_item(n, K.Field, t.render(), "0" + f"{i:03d}", doc=d) for i, (n, t, d) in enumerate(fields)]


def _pred_of_signature(scope: Any, sig: ir.Signature) -> ir.Predictor | None:
    for p in scope.module.predictors:
        if p.signature is sig:
            return p
    return None


def _expr_type_from_text(index: FileIndex, scope: Any, expr: str) -> Type | None:
    parts = expr.split(".")
    local = _resolve_local(index, scope, parts[0])
    if local is None:
        return None
    if len(parts) == 1:
        return local.type
    if len(parts) == 2:
        if local.signature is not None:
            f = next((f for f in local.signature.outputs if f.name == parts[1]), None)
            return f.type if f else None
        rec = local.record or (strip_optional(local.type) if local.type is not None else None)
        if isinstance(rec, RecordType):
            rf = rec.field(parts[1])
            return rf.type if rf else None
    return None


def _member_items(index: FileIndex, scope: Any, expr: str, quoted: bool) -> list[lsp.CompletionItem]:
    t = _expr_type_from_text(index, scope, expr)
    t = strip_optional(t) if t is not None else None
    if not isinstance(t, LiteralType):
        return []
    return [_item(m if quoted else f'"{m}"', lsp.CompletionItemKind.EnumMember, t.name or "member", "0",
                  insert=None if not quoted else m) for m in t.members]


# ---------------------------------------------------------------- signature help


def signature_help(index: FileIndex, text: str, offset: int) -> lsp.SignatureHelp | None:
    call = open_call(text, offset)
    if call is None:
        return None
    name, _paren, inside = call
    scope = index.scope_at(offset)
    prog = index.program
    params: list[tuple[str, str | None]] = []
    label_head = name
    tail = ""
    doc = None
    if scope is not None and name in scope.locals and scope.locals[name].kind == "predictor":
        pred = scope.locals[name].obj
        sig = pred.signature
        if sig is None:
            return None
        params = [(f"{f.name}: {f.type.render()}", f.description) for f in sig.inputs]
        tail = " -> (" + ", ".join(f"{f.name}: {f.type.render()}" for f in sig.outputs) + ")"
        doc = sig.effective_instructions()
    elif name in prog.tools:
        tool = prog.tools[name]
        params = [(render_params([p], prog.text), None) for p in tool.params]
        tail = f" -> {tool.returns.render()}"
        doc = tool.description
    elif name in prog.modules:
        mod = prog.modules[name]
        params = [(render_params([p], prog.text), None) for p in mod.params]
        if mod.outputs:
            tail = " -> (" + ", ".join(f"{f.name}: {f.type.render()}" for f in mod.outputs) + ")"
    elif name in ir.PREDICTOR_KINDS:
        params = [("signature", "a signature name or an inline \"a, b -> c\" string"), ("options...", None)]
        doc = PREDICTOR_DOCS.get(name)
    else:
        return None
    label = label_head + "(" + ", ".join(p for p, _ in params) + ")" + tail
    infos = [lsp.ParameterInformation(label=p, documentation=d) for p, d in params]
    # the active parameter: the keyword being written, else the argument's position
    last = re.split(r",", inside)[-1]
    m = re.match(r"\s*([A-Za-z_]\w*)\s*[:=]", last)
    active = _top_level_commas(inside)
    if m:
        for i, (p, _) in enumerate(params):
            if p.split(":")[0].split("=")[0].strip() == m.group(1):
                active = i
                break
    else:
        used = _used_kwargs("(" + inside)
        for i, (p, _) in enumerate(params):
            pname = p.split(":")[0].split("=")[0].strip()
            if pname not in used:
                active = i
                break
    active = min(active, max(len(params) - 1, 0))
    return lsp.SignatureHelp(
        signatures=[lsp.SignatureInformation(label=label, documentation=doc, parameters=infos)],
        active_signature=0, active_parameter=active)


# ---------------------------------------------------------------- symbols


def _sym(name: str, kind: lsp.SymbolKind, lm: LineMap, span: Span, sel: Span, detail: str | None = None,
         children: list[lsp.DocumentSymbol] | None = None) -> lsp.DocumentSymbol:
    rng = lm.range(span)
    sel_rng = lm.range(sel)
    if (sel.start < span.start) or (sel.end > span.end):
        rng = lsp.Range(start=min(rng.start, sel_rng.start, key=lambda p: (p.line, p.character)),
                        end=max(rng.end, sel_rng.end, key=lambda p: (p.line, p.character)))
    return lsp.DocumentSymbol(name=name or "?", kind=kind, range=rng, selection_range=sel_rng, detail=detail,
                              children=children)


def document_symbols(index: FileIndex, lm: LineMap) -> list[lsp.DocumentSymbol]:
    S = lsp.SymbolKind
    out = []
    for d in index.program.decls:
        if d.path not in (None, index.path):
            continue
        if isinstance(d, ir.TypeDecl):
            children = [_sym(m, S.EnumMember, lm, sp, sp) for m, sp in d.member_spans.items()]
            kind = S.Enum if isinstance(d.type, LiteralType) else S.Struct
            out.append(_sym(d.name, kind, lm, d.span, d.name_span, type_detail(d.type) if kind == S.Enum else None,
                            children))
        elif isinstance(d, ir.Signature):
            children = [_sym(f.name, S.Field, lm, f.span, f.span, f"{f.role} {f.type.render()}")
                        for f in (*d.inputs, *d.outputs) if f.span.end > f.span.start]
            out.append(_sym(d.name, S.Interface, lm, d.span, d.name_span, "signature", children))
        elif isinstance(d, ir.Module):
            children = []
            for p in d.predictors:
                detail = f"{p.kind}({p.signature_ref or 'inline'})"
                children.append(_sym(p.name, S.Method, lm, p.span, p.name_span, detail))
            out.append(_sym(d.name, S.Function if d.is_metric else S.Module, lm, d.span, d.name_span,
                            "metric" if d.is_metric else "module", children))
        elif isinstance(d, ir.Tool):
            out.append(_sym(d.name, S.Function, lm, d.span, d.name_span, f'tool "{d.target}"'))
        elif isinstance(d, ir.Retriever):
            out.append(_sym(d.name, S.Variable, lm, d.span, d.name_span, f"retriever ({d.kind})"))
        elif isinstance(d, ir.ModelDecl):
            out.append(_sym(d.name, S.Constant, lm, d.span, d.name_span, f'model "{d.model}"'))
        elif isinstance(d, ir.Example):
            out.append(_sym(f"example {d.name}", S.Object, lm, d.span, d.name_span, f"for {d.target}"))
        elif isinstance(d, ir.TestBlock):
            out.append(_sym(f"test {d.name}", S.Event, lm, d.span, d.name_span, f"for {d.target}"))
        elif isinstance(d, ir.Import):
            out.append(_sym(d.name, S.File, lm, d.span, d.name_span, "import"))
    return out


# ---------------------------------------------------------------- semantic tokens

TOKEN_TYPES = ["namespace", "type", "class", "enum", "interface", "struct", "parameter", "variable",
               "property", "enumMember", "function", "method", "comment", "string", "keyword", "macro"]
TOKEN_MODIFIERS = ["declaration", "readonly", "defaultLibrary"]
_KIND_TOKEN = {
    "type": "struct", "enum": "enum", "signature": "interface", "module": "namespace", "metric": "function",
    "predictor": "method", "field": "property", "output": "property", "param": "parameter",
    "variable": "variable", "tool": "function", "retriever": "function", "model": "macro",
    "member": "enumMember", "builtin_type": "type", "predictor_kind": "class",
}


def semantic_tokens(index: FileIndex, lm: LineMap) -> list[int]:
    toks: list[tuple[int, int, int, int, int]] = []  # line, col(units), length(units), type, mods
    tindex = {t: i for i, t in enumerate(TOKEN_TYPES)}
    for o in index.occurrences:
        s = o.span
        if s.line != s.end_line or s.end <= s.start:
            continue
        tt = _KIND_TOKEN.get(o.kind)
        if tt is None:
            continue
        mods = 0
        if o.is_def:
            mods |= 1
        if o.kind in ("builtin_type", "predictor_kind"):
            mods |= 4
        if o.kind == "model":
            mods |= 2
        start = lm.position(s.line, s.col).character
        end = lm.position(s.end_line, s.end_col).character
        toks.append((s.line, start, end - start, tindex[tt], mods))
    for c in index.program.comments:
        s = c.span
        if s.line == s.end_line:
            start = lm.position(s.line, s.col).character
            end = lm.position(s.end_line, s.end_col).character
            toks.append((s.line, start, end - start, tindex["comment"], 0))
    toks.sort()
    data: list[int] = []
    prev_line = prev_col = 0
    last_end = (-1, -1)
    for line, col, length, tt, mods in toks:
        if (line, col) < last_end or length <= 0:
            continue  # overlapping tokens are not allowed
        d_line = line - prev_line
        d_col = col - prev_col if d_line == 0 else col
        data += [d_line, d_col, length, tt, mods]
        prev_line, prev_col = line, col
        last_end = (line, col + length)
    return data


# ---------------------------------------------------------------- folding


def folding_ranges(index: FileIndex, lm: LineMap) -> list[lsp.FoldingRange]:
    out: list[lsp.FoldingRange] = []
    seen: set[int] = set()

    def add(span: Span, kind: str | None = None) -> None:
        start, end = span.line, span.end_line
        if end > start and lm.line_text(end).strip().startswith(("}", ")")):
            end -= 1
        if end > start and start not in seen:
            seen.add(start)
            out.append(lsp.FoldingRange(start_line=start, end_line=end, kind=kind))

    def stmts(body: list[ir.Stmt]) -> None:
        for s in body:
            if isinstance(s, ir.If):
                add(s.span)
                for b in s.branches:
                    stmts(b.body)
                if s.orelse:
                    stmts(s.orelse)
            elif isinstance(s, ir.For):
                add(s.span)
                stmts(s.body)

    for d in index.program.decls:
        if d.path not in (None, index.path):
            continue
        add(d.span)
        if isinstance(d, ir.Signature) and d.instructions_span is not None:
            add(d.instructions_span, lsp.FoldingRangeKind.Comment)
        if isinstance(d, ir.Module):
            stmts(d.body)
    # runs of comment lines
    run: list[int] = []
    for c in index.program.comments:
        if lm.line_text(c.span.line).lstrip().startswith("#"):
            if run and c.span.line == run[-1] + 1:
                run.append(c.span.line)
                continue
            if len(run) > 1 and run[0] not in seen:
                out.append(lsp.FoldingRange(start_line=run[0], end_line=run[-1], kind=lsp.FoldingRangeKind.Comment))
            run = [c.span.line]
    if len(run) > 1 and run[0] not in seen:
        out.append(lsp.FoldingRange(start_line=run[0], end_line=run[-1], kind=lsp.FoldingRangeKind.Comment))
    imports = [d for d in index.program.decls if isinstance(d, ir.Import) and d.path in (None, index.path)]
    if len(imports) > 1 and imports[-1].span.line > imports[0].span.line:
        out.append(lsp.FoldingRange(start_line=imports[0].span.line, end_line=imports[-1].span.line,
                                    kind=lsp.FoldingRangeKind.Imports))
    return out


# ---------------------------------------------------------------- code lens / preview targets


def preview_targets(index: FileIndex) -> list[tuple[str, Span]]:
    """(target id, span of its name) for every signature and predictor declared in this file."""
    out: list[tuple[str, Span]] = []
    for d in index.program.decls:
        if d.path not in (None, index.path):
            continue
        if isinstance(d, ir.Signature):
            out.append((d.name, d.name_span))
        elif isinstance(d, ir.Module):
            for p in d.predictors:
                if p.signature is not None:
                    out.append((p.id, p.name_span))
    return out


def target_at(index: FileIndex, offset: int) -> str | None:
    """The preview target at a position: the predictor or signature under (or around) the cursor."""
    occ = index.at(offset)
    if occ is not None:
        if occ.kind == "predictor" and isinstance(occ.obj, ir.Predictor):
            return occ.obj.id
        if occ.kind == "signature" and isinstance(occ.obj, ir.Signature):
            return occ.obj.name
        if occ.kind == "field" and not occ.obj[0].inline:
            return occ.obj[0].name
    for d in index.program.decls:
        if d.path not in (None, index.path) or not (d.span.start <= offset <= d.span.end):
            continue
        if isinstance(d, ir.Signature):
            return d.name
        if isinstance(d, ir.Module):
            for p in d.predictors:
                if p.span.line <= index_line(index, offset) <= p.span.end_line:
                    return p.id
            if len(d.predictors) == 1:
                return d.predictors[0].id
        if isinstance(d, ir.Example):
            return d.target
    return None


def index_line(index: FileIndex, offset: int) -> int:
    return index.text.count("\n", 0, offset)


# ---------------------------------------------------------------- inlay hints

_HINT_MAX = 60


def _short(text: str) -> str:
    return text if len(text) <= _HINT_MAX else text[: _HINT_MAX - 1] + "…"


def inlay_hints(index: FileIndex, lm: LineMap, lo: int, hi: int) -> list[lsp.InlayHint]:
    """The checker's inferred types, between offsets `lo` and `hi` of this file: `: T` after the first
    unannotated assignment of each variable of a module body (not after a literal, whose type is in plain
    sight), and `-> (outputs)` at the end of each `let` predictor. Read from the IR (`Program.expr_types`,
    filled by the checker); nothing is parsed here."""
    prog = index.program
    out: list[lsp.InlayHint] = []

    def stmts(body: list[ir.Stmt], seen: set[str]) -> None:
        for s in body:
            if isinstance(s, ir.Assign):
                first = s.target not in seen
                seen.add(s.target)
                if not first or s.annotation is not None or isinstance(s.value, ir.Literal):
                    continue
                t = prog.expr_types.get(id(s.value))
                span = s.target_span
                if t is None or t.render() in ("any", "") or not (lo <= span.end <= hi) or span.end <= span.start:
                    continue
                out.append(lsp.InlayHint(position=lm.position(span.end_line, span.end_col),
                                         label=_short(": " + t.render()), kind=lsp.InlayHintKind.Type,
                                         padding_left=False, padding_right=False))
            elif isinstance(s, ir.LetStmt):
                p = s.predictor
                seen.add(p.name)
                sig = p.signature
                if sig is None or not sig.outputs or not (lo <= p.span.end <= hi) or p.span.end <= p.span.start:
                    continue
                outs = ", ".join(f"{f.name}: {f.type.render()}" for f in sig.outputs)
                out.append(lsp.InlayHint(position=lm.position(p.span.end_line, p.span.end_col),
                                         label=_short(f"-> ({outs})"), kind=lsp.InlayHintKind.Type,
                                         padding_left=True))
            elif isinstance(s, ir.If):
                for b in s.branches:
                    stmts(b.body, seen)
                if s.orelse:
                    stmts(s.orelse, seen)
            elif isinstance(s, ir.For):
                seen.add(s.var)
                stmts(s.body, seen)

    for d in prog.decls:
        if isinstance(d, ir.Module) and d.path in (None, index.path) and d.span.end >= lo and d.span.start <= hi:
            stmts(d.body, {p.name for p in d.params})
    return out
