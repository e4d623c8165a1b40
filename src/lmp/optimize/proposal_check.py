"""Is a proposed instruction an instruction? Rejects what a weak prompt model writes instead of one.

A prompt model asked for an instruction may answer with nothing, with code, with a JSON object or
schema, with the examples it was shown, with the prompt's own markup, or with pages of text. Such a
"proposal" would be scored as a candidate anyway and could even win on a small dev set by luck; here
it is rejected with a reason the run counts and shows, and the proposer asks again (propose.py).

`check_instruction(text, current=..., shown=[...], max_chars=...)` -> `Verdict(ok, reason, detail)`.
Reasons: `empty`, `too_short`, `code`, `schema`, `markup`, `echo`, `too_long`, `same`. The rules are
deliberately conservative: a plain-prose instruction of any style passes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

REASONS = {
    "empty": "empty",
    "too_short": "too short to be an instruction",
    "code": "looks like code",
    "schema": "looks like JSON or a schema, not an instruction",
    "markup": "mostly markup or symbols, not prose",
    "echo": "repeats the inputs it was shown",
    "too_long": "far longer than the budget",
    "same": "the same as the current instruction",
}

# A default length budget: instructions are a paragraph. A proposal may be this many times longer than
# the instruction it replaces, and never shorter than the floor (a one-line original may grow).
LENGTH_FACTOR = 6
LENGTH_FLOOR = 600

_FENCE = re.compile(r"```|~~~")
# A line that starts like this is code on its own; prose does not start a line with `def f(`.
_CODE_START = re.compile(
    r"^\s*(def \w+\s*\(|class \w+\s*[(:]|import [\w.]+\s*$|from [\w.]+ import |#include|function \w*\s*\(|"
    r"(const|let|var) \w+\s*=|<\?php|<script|console\.log\(|print\(|SELECT .+ FROM )", re.M)
# Weaker signs: these need a code token as well.
_CODE_LINE = re.compile(r"^\s*(return\b|if \(|for \(|while \(|public |private |<html|</?div)", re.M)
_CODE_TOKENS = re.compile(r"(==|!=|=>|->|::|\+=|&&|\|\||;\s*$|\)\s*\{|\bself\.|\(\)\s*:)", re.M)
_SCHEMA_KEYS = re.compile(r'"(\$schema|type|properties|required|items|enum)"\s*:')
_PROMPT_MARKUP = re.compile(r"\[\[\s*##|##\s*\]\]|\[\*+|\*+\]|#\[#|\[#\w|<\|?(im_start|im_end|system|user|assistant)\|?>",
                            re.I)
# Field names such as `examples_with_feedback`: a proposal made of them repeats the prompt's layout.
_IDENTIFIER = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None  # a key of REASONS
    detail: str = ""

    @property
    def message(self) -> str:
        if self.ok:
            return "accepted"
        text = REASONS.get(self.reason or "", self.reason or "rejected")
        return f"{text} ({self.detail})" if self.detail else text


def length_budget(current: str | None) -> int:
    return max(LENGTH_FLOOR, LENGTH_FACTOR * len(current or ""))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _echo(text: str, shown: list[str]) -> str | None:
    """A shown input (long enough to be distinctive) quoted at length: 8 consecutive words of it."""
    words = _words(text)
    grams = {tuple(words[i:i + 8]) for i in range(len(words) - 7)}
    if not grams:
        return None
    for s in shown:
        sw = _words(s)
        if len(sw) < 8:
            continue
        for i in range(len(sw) - 7):
            if tuple(sw[i:i + 8]) in grams:
                return " ".join(sw[i:i + 8])
    return None


def _looks_like_json(text: str) -> bool:
    t = text.strip()
    if t[:1] in "{[" and t[-1:] in "}]":
        try:
            json.loads(t)
            return True
        except ValueError:
            return t.count('":') >= 2 or t.count("':") >= 2
    return False


def check_instruction(text: str | None, *, current: str | None = None, shown: Any = None,
                      max_chars: int | None = None) -> Verdict:
    """Accept or reject one proposed instruction. `shown`: the example inputs (and outputs) the proposer
    saw, any nesting of dicts/lists of strings; quoting 8+ consecutive words of one is an echo."""
    t = (text or "").strip()
    if not t or not re.search(r"[A-Za-z]", t):
        return Verdict(False, "empty")
    budget = max_chars if max_chars is not None else length_budget(current)
    if len(t) > budget:
        return Verdict(False, "too_long", f"{len(t)} characters, budget {budget}")
    if current is not None and " ".join(t.split()) == " ".join(current.split()):
        return Verdict(False, "same")
    if _looks_like_json(t) or len(_SCHEMA_KEYS.findall(t)) >= 2:
        return Verdict(False, "schema")
    if _FENCE.search(t) or _CODE_START.search(t) or _CODE_LINE.search(t) and _CODE_TOKENS.search(t) \
            or len(_CODE_TOKENS.findall(t)) >= 3:
        return Verdict(False, "code")
    if _PROMPT_MARKUP.search(t):
        return Verdict(False, "markup", "the prompt's field markers")
    visible = [c for c in t if not c.isspace()]
    letters = sum(1 for c in visible if c.isalpha())
    if visible and letters / len(visible) < 0.6:
        return Verdict(False, "markup", f"{letters / len(visible):.0%} letters")
    names = _IDENTIFIER.findall(t)
    if len(names) >= 2 and len(names) >= 0.3 * len(_words(t)):
        return Verdict(False, "markup", "the prompt's field names, e.g. " + ", ".join(sorted(set(names))[:3]))
    if len(_words(t)) < 3:
        return Verdict(False, "too_short")
    quoted = _echo(t, _strings(shown))
    if quoted:
        return Verdict(False, "echo", f"quotes “{quoted}”")
    return Verdict(True)


def summarize(log: list[dict[str, Any]]) -> str:
    """`12 proposed, 9 accepted, 3 rejected (code 2, echo 1)` from propose()'s log entries."""
    rejected = [e for e in log if not e.get("ok")]
    by: dict[str, int] = {}
    for e in rejected:
        by[e.get("reason") or "failed"] = by.get(e.get("reason") or "failed", 0) + 1
    detail = ", ".join(f"{k} {v}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]))
    return (f"{len(log)} proposed, {len(log) - len(rejected)} accepted, {len(rejected)} rejected"
            + (f" ({detail})" if detail else ""))
