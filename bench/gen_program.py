"""Generates a realistic .lmp program of about N lines (used by the parse/check and LSP benchmarks)."""

from __future__ import annotations


def generate(lines: int = 2000) -> str:
    parts: list[str] = []
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(f'''type Label{i} = "alpha{i}" | "beta{i}" | "gamma{i}"

signature Classify{i} {{
  """Classify item {i} into one of the labels."""
  in  text: str "the text to classify"
  in  context: list[str] "supporting passages"
  out label: Label{i}
  out confidence: float "between 0 and 1"
}}

signature Query{i} = "context: list[str], question -> query"

module Pipeline{i}(question: str) -> (label: Label{i}, confidence: float) {{
  let gen = Predict(Query{i})
  let classify = ChainOfThought(Classify{i})
  context: list[str] = []
  for hop in range(2) {{
    q = gen(context: context, question: question)
    context += [q.query]
  }}
  result = classify(text: question, context: context)
  if result.label == "alpha{i}" {{
    return (label: result.label, confidence: 1.0)
  }}
  return result
}}
''')
        i += 1
    return "\n".join(parts)


if __name__ == "__main__":
    print(generate())
