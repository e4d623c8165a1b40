"""Python tools for the ReAct variant (imported by lmp only when the agent runs)."""

from __future__ import annotations

import json
import os
import re

_FAQ = os.path.join(os.path.dirname(__file__), "payroll_faq.jsonl")


def search_faq(query: str) -> str:
    """The payroll FAQ entry sharing the most words with the query."""
    words = set(re.findall(r"[a-z]+", query.lower()))
    best, best_score = "no entry found", 0
    with open(_FAQ, encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"]
            score = len(words & set(re.findall(r"[a-z]+", text.lower())))
            if score > best_score:
                best, best_score = text, score
    return best


def overtime_pay(hourly_rate: float, hours: float) -> float:
    """Overtime pay for `hours` extra hours at 1.5 times `hourly_rate`."""
    return round(float(hourly_rate) * 1.5 * float(hours), 2)
