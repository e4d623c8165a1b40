"""GBNF text (llama.cpp's grammar format, also read by vLLM/SGLang through xgrammar) for lmp types.

Two shapes of value exist: a chat-adapter section (`str` is free text, literals are bare words,
everything structured is JSON) and a JSON value (strings quoted). JSON is always written compactly,
with no optional whitespace: a schema that lets a small model choose its layout lets it spend its
token budget on newlines and indentation (measured: a one-field enum object was cut off at 12
tokens), so the layout is fixed instead.

Rules are named after what they hold and shared: two fields of the same type use one rule.
"""

from __future__ import annotations

import re

from lmp.ir.types import (
    AnyType,
    DictType,
    ListType,
    LiteralType,
    NoneType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
)

# Free text in a chat section: one paragraph, anything but `[[` (which would start the next header)
# and a blank line. A blank line is where a small model's paragraph ends; there the grammar leaves it
# only the next header, instead of letting it ramble on for the whole budget.
CHAT_TEXT_CHAR = r'[^\[\n] | "[" [^\[\n] | "\n" [^\[\n]'
# One character of a JSON string body (escapes included); control characters are not allowed raw.
JSON_CHAR = r'[^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
INT = r'"-"? ("0" | [1-9] [0-9]{0,17})'
NUMBER = r'"-"? ("0" | [1-9] [0-9]{0,17}) ("." [0-9]{1,12})? ([eE] [-+]? [0-9]{1,3})?'
BOOL = r'"true" | "false"'


def literal(text: str) -> str:
    """A GBNF string literal matching `text` exactly."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def json_literal(text: str) -> str:
    """A GBNF literal matching `text` written as a compact JSON string."""
    import json

    return literal(json.dumps(text, ensure_ascii=False))


class Grammar:
    """Collects named rules; `text()` renders them with `root` first."""

    def __init__(self) -> None:
        self._rules: dict[str, str] = {}
        self._by_body: dict[str, str] = {}

    def rule(self, hint: str, body: str) -> str:
        """The name of a rule with this body (reused when an identical rule exists)."""
        if body in self._by_body:
            return self._by_body[body]
        base = re.sub(r"[^a-zA-Z0-9]+", "-", hint).strip("-").lower() or "r"
        name, n = base, 1
        while name in self._rules:
            n += 1
            name = f"{base}-{n}"
        self._rules[name] = body
        self._by_body[body] = name
        return name

    def set_root(self, body: str) -> None:
        self._rules = {"root": body, **{k: v for k, v in self._rules.items() if k != "root"}}

    def text(self) -> str:
        return "".join(f"{name} ::= {body}\n" for name, body in self._rules.items())

    # -------------------------------------------------------------- building blocks

    def chat_text(self, max_chars: int) -> str:
        return self.rule(f"text-{max_chars}", f"({CHAT_TEXT_CHAR}){{1,{max_chars}}}")

    def json_string(self, max_chars: int) -> str:
        char = self.rule("json-char", JSON_CHAR)
        return self.rule(f"string-{max_chars}", f'"\\"" {char}{{0,{max_chars}}} "\\""')

    def json_any(self, max_chars: int) -> str:
        """A generic JSON value (compact). Recursive, so defined once by fixed names."""
        if "value" in self._rules:
            return "value"
        string = self.json_string(max_chars)
        key = self.json_string(100)
        number = self.rule("number", NUMBER)
        self._rules["value"] = f'object | array | {string} | {number} | "true" | "false" | "null"'
        self._rules["object"] = f'"{{" ({key} ":" value ("," {key} ":" value)*)? "}}"'
        self._rules["array"] = '"[" (value ("," value)*)? "]"'
        self._by_body[self._rules["value"]] = "value"
        return "value"


class Notes:
    """What could not be constrained exactly, said once per place."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)


def json_value(g: Grammar, t: Type, where: str, notes: Notes, max_chars: int) -> str:
    """A GBNF expression for a compact JSON value of type `t`."""
    if isinstance(t, OptionalType):
        return f'({json_value(g, t.inner, where, notes, max_chars)} | "null")'
    if isinstance(t, NoneType):
        return '"null"'
    if isinstance(t, PrimType):
        if t.name == "str":
            return g.json_string(max_chars)
        if t.name == "int":
            return g.rule("int", INT)
        if t.name == "float":
            return g.rule("number", NUMBER)
        return g.rule("bool", BOOL)
    if isinstance(t, LiteralType):
        body = " | ".join(json_literal(m) for m in t.members)
        return g.rule(t.name or "enum", body) if len(t.members) > 1 else body
    if isinstance(t, ListType):
        item = json_value(g, t.item, f"{where}[]", notes, max_chars)
        return g.rule(f"list-{_hint(t.item)}", f'"[" ({item} ("," {item})*)? "]"')
    if isinstance(t, DictType):
        if isinstance(t.key, LiteralType):
            key = "(" + " | ".join(json_literal(m) for m in t.key.members) + ")"
        else:
            key = g.json_string(100)
        value = json_value(g, t.value, f"{where}{{}}", notes, max_chars)
        return g.rule(f"dict-{_hint(t.value)}", f'"{{" ({key} ":" {value} ("," {key} ":" {value})*)? "}}"')
    if isinstance(t, RecordType):
        return record(g, t, where, notes, max_chars)
    notes.add(f"`{where}` has type {t.render()}: constrained only to be a JSON value")
    return g.json_any(max_chars)


def record(g: Grammar, t: RecordType, where: str, notes: Notes, max_chars: int) -> str:
    """Every field in declared order, optional ones as `null` when absent (as strict schemas do)."""
    if not t.fields:
        return '"{}"'
    parts = []
    for i, f in enumerate(t.fields):
        sep = "," if i else ""
        parts.append(literal(sep + '"' + f.name + '":'))
        parts.append(json_value(g, f.type, f"{where}.{f.name}" if where else f.name, notes, max_chars))
    return g.rule(f"record-{t.name or where or 'obj'}", '"{" ' + " ".join(parts) + ' "}"')


def chat_value(g: Grammar, t: Type, where: str, notes: Notes, text_chars: int, json_chars: int) -> str:
    """A GBNF expression for one chat-adapter section's value."""
    if isinstance(t, OptionalType):
        return f'({chat_value(g, t.inner, where, notes, text_chars, json_chars)} | "null")'
    if isinstance(t, PrimType) and t.name == "str":
        return g.chat_text(text_chars)
    if isinstance(t, LiteralType):
        body = " | ".join(literal(m) for m in t.members)
        return f"({body})" if len(t.members) > 1 else body
    return json_value(g, t, where, notes, json_chars)


def _hint(t: Type) -> str:
    if isinstance(t, OptionalType):
        return "opt-" + _hint(t.inner)
    if isinstance(t, PrimType):
        return t.name
    if isinstance(t, LiteralType | RecordType) and t.name:
        return t.name
    if isinstance(t, ListType):
        return "list-" + _hint(t.item)
    if isinstance(t, AnyType):
        return "any"
    return type(t).__name__.lower().replace("type", "")
