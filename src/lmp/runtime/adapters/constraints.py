"""The constraint compiler: a signature's output types -> what a server needs to decode only
values of those types (a GBNF grammar and, for the JSON adapter, a JSON Schema), plus a token
budget derived from the same types.

Compiled once per (adapter, outputs, tool arguments) and cached, like a prompt template.

- chat adapter: the whole answer, `[[ ## field ## ]]` headers in order, free text only for `str`
  (bounded, never `[[`), literal members exactly, numbers, `true|false`, compact JSON for lists,
  dicts and records, `null` for optionals, then `[[ ## completed ## ]]`;
- JSON adapter: one compact JSON object with the outputs in order (grammar), and a JSON Schema of
  the same object (literal members as enum, every key required, optionals nullable,
  additionalProperties false) for servers that take schemas;
- ReAct steps: `next_tool_name` is one of the declared tools and `next_tool_args` the arguments of
  that very tool (an alternation over tools).

Types that cannot be constrained exactly (`any`, dict values of type `any`) become a generic JSON
value and the compiler says so in `notes` (shown by `lmp preview`). Compiling never raises.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any

from lmp.ir.nodes import Signature
from lmp.ir.types import (
    ANY,
    PRIMITIVES,
    AnyType,
    DictType,
    ListType,
    LiteralType,
    NoneType,
    OptionalType,
    PrimType,
    RecordField,
    RecordType,
    Type,
)
from lmp.runtime.adapters import gbnf
from lmp.runtime.lm.constrain import Constraint

COMPLETED = "[[ ## completed ## ]]"
# Characters of free text per section. A bound makes a rambling model move on to the next field
# instead of spending the whole budget on one.
TEXT_CHARS = 800
REASONING_CHARS = 1200
NESTED_CHARS = 300
# Token budgets (see `budget`): free text is budgeted at one token per character, the worst case for
# ASCII text (a byte-level BPE token is at least one byte). English prose runs at 3-4 characters a token,
# but a rambling small model writes `# # # #` or digit runs at 1-2 (measured on the embedded model), and a
# budget sized for prose cut those answers off inside a section the grammar had kept valid. max_tokens
# is a cap, not a cost: a model that ends its section early pays nothing for the room.
TEXT_TOKENS = TEXT_CHARS
REASONING_TOKENS = REASONING_CHARS
NESTED_TEXT_TOKENS = NESTED_CHARS
MAX_TEXT_SCALE = 8.0  # a user's large max_tokens lengthens free text up to this many times the default
LIST_ITEMS = 5  # items budgeted for a list or dict (the grammar itself does not cap them)
MAX_BUDGET = 4096
LOOSE_MAX = 1024  # the fixed default before budgets were derived

ToolArgs = Mapping[str, RecordType | None]


def header(name: str) -> str:
    return f"[[ ## {name} ## ]]"


# ------------------------------------------------------------------ public entry points


def compile_constraint(adapter: str, signature: Signature, tool_args: ToolArgs | None = None,
                       max_tokens: int | None = None) -> Constraint:
    """The cached constraint of `signature`'s outputs for `adapter` ("chat" or "json").

    With a user-set `max_tokens` below what the types would get, the free-text bounds shrink so that
    the whole answer fits: a ChainOfThought under `max_tokens: 100` must leave its reasoning in time
    to give the answer, instead of being cut off in the middle of it."""
    outputs = tuple((f.name, f.type, f.description) for f in signature.outputs)
    tools = tuple(sorted((tool_args or {}).items())) if tool_args else ()
    name = re.sub(r"[^A-Za-z0-9_-]", "_", signature.name or "outputs")[:64] or "outputs"
    return _compile(adapter, outputs, tools, name, _text_scale(outputs, adapter == "chat", max_tokens, dict(tools)))


def _text_scale(outputs: tuple[tuple[str, Type, str | None], ...], chat: bool, max_tokens: int | None,
                tools: dict[str, RecordType | None] | None = None) -> float:
    """The share of the usual free-text bounds that fits in `max_tokens` (1.0: the defaults; below 1 a
    squeeze, above 1 room the user asked for)."""
    if max_tokens is None:
        return 1.0
    full = _budget_of(outputs, chat, tools=tools)
    fixed = _budget_of(outputs, chat, text=0.0, tools=tools)
    if full <= fixed:
        return 1.0
    room = (max_tokens - 8) / 1.15 - fixed
    scale = room / (full - fixed)
    if 1.0 <= scale < 1.5:
        return 1.0  # the usual grammar when it fits with room to spare (one cached grammar for most users)
    # Rounded: a few distinct grammars, cached. Above 1: the user asked for longer answers than the
    # defaults allow, so the free-text bounds grow with max_tokens instead of cutting a section short.
    if scale > 1:
        return math.floor(min(MAX_TEXT_SCALE, scale) * 10) / 10
    return max(0.02, math.floor(scale * 100) / 100)  # rounded down: the squeezed answer must still fit


@functools.lru_cache(maxsize=512)
def _compile(adapter: str, outputs: tuple[tuple[str, Type, str | None], ...],
             tools: tuple[tuple[str, RecordType | None], ...], name: str, scale: float = 1.0) -> Constraint:
    try:
        if adapter == "json":
            return _compile_json(outputs, dict(tools), name, scale)
        return _compile_chat(outputs, dict(tools), name, scale)
    except Exception as exc:  # noqa: BLE001 - a constraint is an aid: never let it break a call
        return Constraint(adapter, None, None, name, False,
                          (f"no constraint: compiling the output types failed ({type(exc).__name__}: {exc})",),
                          _budget_of(outputs, adapter == "chat", tools=dict(tools)),
                          2 * _budget_of(outputs, adapter == "chat", tools=dict(tools)) + 32)


def _tool_pair(outputs: tuple[tuple[str, Type, str | None], ...], tools: dict[str, RecordType | None]) -> int | None:
    """Index of `next_tool_name` when it is directly followed by `next_tool_args` (a ReAct step)."""
    names = [o[0] for o in outputs]
    if not tools or "next_tool_name" not in names:
        return None
    i = names.index("next_tool_name")
    if i + 1 < len(names) and names[i + 1] == "next_tool_args" and isinstance(outputs[i][1], LiteralType):
        return i
    return None


def _chars(n: int, scale: float) -> int:
    return max(16, int(n * scale))


def _compile_chat(outputs: tuple[tuple[str, Type, str | None], ...], tools: dict[str, RecordType | None],
                  name: str, scale: float = 1.0) -> Constraint:
    g = gbnf.Grammar()
    notes = gbnf.Notes()
    pair = _tool_pair(outputs, tools)
    parts: list[str] = []
    i = 0
    while i < len(outputs):
        fname, ftype, _ = outputs[i]
        sep = "\n\n" if i else ""
        if i == pair:
            tool_type = ftype
            assert isinstance(tool_type, LiteralType)
            args_head = gbnf.literal("\n\n" + header("next_tool_args") + "\n")
            alts = []
            for tool in tool_type.members:
                args = _tool_args_grammar(g, tool, tools, notes, _chars(NESTED_CHARS, scale))
                alts.append(f"{gbnf.literal(tool)} {args_head} {args}")
            parts.append(gbnf.literal(sep + header(fname) + "\n"))
            parts.append(g.rule("tool-call", " | ".join(alts)))
            i += 2
            continue
        chars = _chars(REASONING_CHARS if fname == "reasoning" else TEXT_CHARS, scale)
        parts.append(gbnf.literal(sep + header(fname) + "\n"))
        parts.append(gbnf.chat_value(g, ftype, fname, notes, chars, _chars(NESTED_CHARS, scale)))
        i += 1
    parts.append(gbnf.literal(("\n\n" if outputs else "") + COMPLETED))
    g.set_root(" ".join(parts))
    budget = _budget_of(outputs, chat=True, text=scale, tools=tools)
    return Constraint("chat", g.text(), None, name, True, tuple(notes.items), _tight(budget), _loose(budget))


def _compile_json(outputs: tuple[tuple[str, Type, str | None], ...], tools: dict[str, RecordType | None],
                  name: str, scale: float = 1.0) -> Constraint:
    g = gbnf.Grammar()
    notes = gbnf.Notes()
    pair = _tool_pair(outputs, tools)
    parts: list[str] = []
    i = 0
    while i < len(outputs):
        fname, ftype, _ = outputs[i]
        key = gbnf.literal(("," if i else "") + f'"{fname}":')
        if i == pair:
            assert isinstance(ftype, LiteralType)
            args_key = gbnf.literal(',"next_tool_args":')
            alts = []
            for tool in ftype.members:
                args = _tool_args_grammar(g, tool, tools, notes, _chars(NESTED_CHARS, scale))
                alts.append(f"{gbnf.json_literal(tool)} {args_key} {args}")
            parts += [key, g.rule("tool-call", " | ".join(alts))]
            i += 2
            continue
        chars = _chars(REASONING_CHARS if fname == "reasoning" else TEXT_CHARS, scale)
        parts += [key, gbnf.json_value(g, ftype, fname, notes, chars)]
        i += 1
    g.set_root('"{" ' + " ".join(parts) + ' "}"' if parts else '"{}"')
    schema, strict_ok = json_schema(RecordType(tuple(RecordField(n, t, d) for n, t, d in outputs)))
    if pair is not None:
        strict_ok = False  # the per-tool arguments live in the grammar; the schema keeps a plain object
    budget = _budget_of(outputs, chat=False, text=scale, tools=tools)
    return Constraint("json", g.text(), schema, name, strict_ok, tuple(notes.items), _tight(budget), _loose(budget))


def _tool_args_grammar(g: gbnf.Grammar, tool: str, tools: dict[str, RecordType | None], notes: gbnf.Notes,
                      chars: int = NESTED_CHARS) -> str:
    if tool == "finish":
        return '"{}"'
    args = tools.get(tool)
    if args is None:
        notes.add(f"arguments of tool `{tool}` are not typed: constrained only to be a JSON object")
        return gbnf.json_value(g, DictType(PrimType("str"), ANY), f"{tool}(...)", gbnf.Notes(), chars)
    return gbnf.record(g, args, f"{tool}", notes, chars)


# ------------------------------------------------------------------ JSON Schema


def json_schema(t: Type) -> tuple[dict[str, Any], bool]:
    """The schema sent for `t` and whether it suits strict structured outputs (every object closed)."""
    strict = [True]

    def go(t: Type) -> dict[str, Any]:
        if isinstance(t, OptionalType):
            return {"anyOf": [go(t.inner), {"type": "null"}]}
        if isinstance(t, NoneType):
            return {"type": "null"}
        if isinstance(t, PrimType):
            return t.json_schema()
        if isinstance(t, LiteralType):
            return {"type": "string", "enum": list(t.members)}
        if isinstance(t, ListType):
            return {"type": "array", "items": go(t.item)}
        if isinstance(t, DictType):
            strict[0] = False
            return {"type": "object", "additionalProperties": go(t.value)}
        if isinstance(t, RecordType):
            props: dict[str, Any] = {}
            for f in t.fields:
                props[f.name] = go(f.type)
                if f.description:
                    props[f.name] = {**props[f.name], "description": f.description}
            out: dict[str, Any] = {"type": "object", "properties": props,
                                   "required": [f.name for f in t.fields], "additionalProperties": False}
            if t.name:
                out["title"] = t.name
            return out
        strict[0] = False
        return {}

    schema = go(t)
    return schema, strict[0]


# ------------------------------------------------------------------ token budgets


def budget(t: Type, name: str = "", nested: bool = False, text: float = 1.0) -> int:
    """Tokens a compact value of `t` needs at most (roughly: free text is the only open-ended part;
    `text` scales its share)."""
    if isinstance(t, OptionalType):
        return budget(t.inner, name, nested, text) + 1
    if isinstance(t, NoneType):
        return 2
    if isinstance(t, PrimType):
        if t.name == "str":
            if nested:
                return round(NESTED_TEXT_TOKENS * text)
            return round((REASONING_TOKENS if name == "reasoning" else TEXT_TOKENS) * text)
        # Digits are one token each: an int is at most 19 characters in the grammar, a float in practice 24.
        return {"int": 20, "float": 24, "bool": 3}[t.name]
    if isinstance(t, LiteralType):
        return max((len(m) for m in t.members), default=1) // 2 + 4
    if isinstance(t, ListType):
        return 4 + LIST_ITEMS * (budget(t.item, nested=True, text=text) + 1)
    if isinstance(t, DictType):
        return 4 + LIST_ITEMS * (budget(t.value, nested=True, text=text) + 10)
    if isinstance(t, RecordType):
        return 2 + sum(len(f.name) // 3 + 3 + budget(f.type, f.name, nested=True, text=text) for f in t.fields)
    return max(8, round(128 * text))  # any: free JSON, text included


def _budget_of(outputs: tuple[tuple[str, Type, str | None], ...], chat: bool, text: float = 1.0,
               tools: dict[str, RecordType | None] | None = None) -> int:
    total = 0
    pair = _tool_pair(outputs, tools or {})
    for i, (fname, ftype, _) in enumerate(outputs):
        overhead = (len(fname) // 3 + 10) if chat else (len(fname) // 3 + 4)
        if pair is not None and i == pair + 1:
            # A ReAct step's arguments are those of the chosen tool, not the declared dict[str, any]: budgeted
            # by the largest tool, so that a user's max_tokens squeezes their free text too.
            total += overhead + max(2, *(budget(args or DictType(PrimType("str"), ANY), nested=True, text=text)
                                         for args in (tools or {}).values()))
            continue
        total += overhead + budget(ftype, fname, nested=not chat and not _is_text(ftype), text=text)
    return total + (12 if chat else 2)


def _is_text(t: Type) -> bool:
    t = t.inner if isinstance(t, OptionalType) else t
    return isinstance(t, PrimType) and t.name == "str"


def _tight(total: int) -> int:
    """Constrained: the layout is fixed, so a small margin for tokenization suffices."""
    return min(MAX_BUDGET, max(16, math.ceil(total * 1.15) + 8))


def _loose(total: int) -> int:
    """Unconstrained: the model chooses its layout (whitespace, prose around values), so more room, but
    capped: an unconstrained small model that rambles uses all of it, on every rung of the ladder."""
    return min(LOOSE_MAX, max(32, math.ceil(total * 1.5) + 32))


# ------------------------------------------------------------------ tool argument types


def type_from_text(text: str) -> Type:
    """A tool parameter's rendered type back to a type (`str`, `int?`, `list[str]`); anything more
    complex is `any`, which the compiler reports."""
    text = text.strip()
    if text.endswith("?"):
        inner = type_from_text(text[:-1])
        return ANY if isinstance(inner, AnyType) else OptionalType(inner)
    if text in PRIMITIVES:
        return PRIMITIVES[text]
    m = re.fullmatch(r"list\[(.+)\]", text)
    if m:
        item = type_from_text(m.group(1))
        return ANY if isinstance(item, AnyType) else ListType(item)
    members = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    if members and re.fullmatch(r'\s*"(?:[^"\\]|\\.)*"(\s*\|\s*"(?:[^"\\]|\\.)*")*\s*', text):
        return LiteralType(tuple(members))
    return ANY


def tool_arg_types(params_by_tool: Mapping[str, list[tuple[str, str]]]) -> dict[str, RecordType | None]:
    """{tool: record of its parameters} from (name, rendered type) pairs."""
    out: dict[str, RecordType | None] = {}
    for tool, params in params_by_tool.items():
        out[tool] = RecordType(tuple(RecordField(n, type_from_text(t)) for n, t in params))
    return out


__all__ = ["COMPLETED", "Constraint", "budget", "compile_constraint", "json_schema", "tool_arg_types",
           "type_from_text"]
