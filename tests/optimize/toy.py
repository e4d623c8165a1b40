"""A toy sentiment task and a scripted model whose accuracy depends on its prompt.

- instructions mentioning "polarity": always right (a lexicon);
- otherwise, with demos: the label of the demo sharing most words with the input (so good demos help,
  more/closer demos help more); no shared word: "neg";
- zero-shot: always "neg" (50% on a balanced set).
The prompt model (proposals) answers from the proposal tip: proposal 3 says "polarity".
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from lmp.runtime.lm import FakeLM, History

FIXTURES = Path(__file__).resolve().parent / "fixtures"
POS = ["good", "great", "fun", "lovely", "superb", "happy", "bright", "warm", "charming", "brilliant", "sweet", "gentle"]
NEG = ["bad", "awful", "dull", "boring", "sad", "grim", "cold", "weak", "clumsy", "tedious", "sour", "harsh"]
HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?=\n\[\[ ## |\Z)", re.S)


def rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(POS if label == "pos" else NEG, 2)
        out.append({"text": f"{words[0]} movie {words[1]}", "label": label})
    return out


def write(path: Path, data: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in data))
    return str(path)


def sections(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in HEADER.finditer(text)}


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) - {"movie"}


def chat(**fields: object) -> str:
    return "\n".join(f"[[ ## {k} ## ]]\n{v}\n" for k, v in fields.items()) + "\n[[ ## completed ## ]]"


def truth(text: str) -> str:
    w = words(text)
    return "pos" if len(w & set(POS)) >= len(w & set(NEG)) and w & set(POS) else "neg"


def task_answer(messages: list[dict]) -> str:
    system = messages[0]["content"]
    objective = system.split("your objective is:")[-1]
    query = sections(messages[-1]["content"])
    if "keywords" in query and "text" not in query:
        src = query["keywords"]
    else:
        src = query.get("text", "")
    if "text" in query and "label" in query:  # the judge
        return chat(correct=str(truth(query["text"]) == query["label"].split("\n")[0]).lower())
    if "text" in query and "keywords" in system.split("Your output fields are:")[-1].split("Every exchange")[0]:
        return chat(keywords=" ".join(sorted(words(src))))
    if "polarity" in objective:
        return chat(label=truth(src))
    best, best_overlap = "neg", 0
    demos = messages[1:-1]
    for u, a in zip(demos[0::2], demos[1::2], strict=False):
        d_in = sections(u["content"])
        d_out = sections(a["content"])
        overlap = len(words(" ".join(d_in.values())) & words(src))
        if overlap > best_overlap and "label" in d_out:
            best, best_overlap = d_out["label"], overlap
    return chat(label=best)


def proposal_answer(messages: list[dict]) -> str:
    query = sections(messages[-1]["content"])
    tip = query.get("tip", "")
    n = int(re.search(r"Proposal (\d+)", tip).group(1)) if "Proposal" in tip else 0
    text = "Decide the polarity of the text." if n == 3 else f"Label the text (variant {n})."
    return chat(proposed_instruction=text)


def task_lm() -> FakeLM:
    return FakeLM(task_answer, history=History())


def prompt_lm(history: History | None = None) -> FakeLM:
    return FakeLM(proposal_answer, model="fake-prompt", history=history)
