"""A scripted task where only what the metric's feedback says helps: answers are right only when the
instructions say "uppercase", which only the feedback of `graded` mentions.

- task model: the city in upper case when the system prompt's objective mentions "uppercase", else in
  lower case (wrong: gold is upper case), whatever the demos;
- reflection (ReflectInstruction): copies the feedback's advice into the instruction, like a reflector
  that reads the feedback;
- proposals (ProposeInstruction, copro/mipro): generic rewordings that never mention letter case (the
  proposer sees examples and scores, no feedback).
"""

from __future__ import annotations

import re
from pathlib import Path

from lmp.runtime.lm import FakeLM, History
from tests.optimize.toy import chat, sections, write

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "shout.lmp"
CITIES = ["paris", "rome", "oslo", "lima", "cairo", "quito", "delhi", "tokyo", "bern", "kyiv", "riga", "baku"]


def rows(names: list[str]) -> list[dict]:
    return [{"city": c, "answer": c.upper()} for c in names]


def datasets(tmp_path: Path) -> tuple[str, str]:
    return (write(tmp_path / "train.jsonl", rows(CITIES[:8])), write(tmp_path / "dev.jsonl", rows(CITIES[4:])))


def task_answer(messages: list[dict]) -> str:
    objective = messages[0]["content"].split("your objective is:")[-1].lower()
    city = sections(messages[-1]["content"]).get("city", "").strip().split("\n")[0]
    return chat(answer=city.upper() if "uppercase" in objective else city.lower())


def prompt_answer(messages: list[dict]) -> str:
    query = sections(messages[-1]["content"])
    if "examples_with_feedback" in query:
        advice = []
        for line in query["examples_with_feedback"].splitlines():
            if line.startswith("Feedback:") and ":" in line[len("Feedback:"):]:
                tip = line.rsplit(":", 1)[-1].strip()
                if tip not in advice:
                    advice.append(tip)
        current = query.get("current_instruction", "").split("\n")[0]
        return chat(new_instruction=" ".join([current, *[a[0].upper() + a[1:] + "." for a in advice]]))
    tip = query.get("tip", "")
    n = re.search(r"Proposal (\d+)", tip)
    return chat(proposed_instruction=f"Name the city carefully (variant {n.group(1) if n else 0}).")


def models() -> tuple[FakeLM, FakeLM]:
    history = History()
    return FakeLM(task_answer, history=history), FakeLM(prompt_answer, model="fake-reflect", history=history)
