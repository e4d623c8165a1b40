"""A generated, valid .lmp program of about N lines (for speed measurements)."""

from __future__ import annotations


def generate(lines: int = 2000) -> str:
    parts: list[str] = ['model default = "openai/gpt-4o-mini" { temperature: 0.0 }', ""]
    parts.append('tool search(query: str, k: int = 3) -> list[str] = "rag.search:search"')
    parts.append("")
    i = 0
    while sum(p.count("\n") + 1 for p in parts) < lines:
        parts.append(f"""# block {i}
type Label{i} = "alpha" | "beta" | "gamma"   # three labels

type Rec{i} = {{
  title: str "the title"
  year: int?
}}

signature Sig{i} {{
  \"\"\"Do task {i}.\"\"\"
  in  text: str "the input"
  in  context: list[str]
  out label: Label{i}
  out score: float
}}

module Mod{i}(text: str) -> (label: Label{i}, score: float) {{
  let p = ChainOfThought(Sig{i})
  let q = Predict("question -> answer")
  context: list[str] = []
  for hop in range(2) {{
    context += search(text, k: 2)   # retrieve more
  }}
  r = p(text: text, context: context)
  if r.label == "alpha" and r.score > 0.5 {{
    return (label: r.label, score: r.score)
  }} elif r.score < 0.1 {{
    return (label: "beta", score: 0.0)
  }} else {{
    a = q(question: text)
  }}
  return (label: r.label, score: -r.score + 1.0 * 2)
}}
""")
        i += 1
    return "\n".join(parts)
