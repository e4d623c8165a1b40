"""Streaming: time to the first visible text and the first typed field vs time to the full answer.

    python bench/streaming.py                          # delays 10/30/60 ms per token, 5 runs each
    python bench/streaming.py --delays 0.02 --runs 3 --out /tmp/streaming.md

A ChainOfThought program (reasoning, then a literal, a float and a str output) runs over the loopback
fake OpenAI-compatible server, which streams its answer one word per chunk with a fixed delay per
token, as a hosted model would. For each delay the script measures, from the call to
`prog.Module.stream(...)`:

- first text: the first Partial with any text (the reasoning's first word);
- first typed: the first Partial whose typed field (the literal `verdict`) is set;
- full: the validated Prediction at the end of the stream;
- plain call: the same module called without streaming (`prog.Module(...)`); the fake server then
  answers once the whole answer would have been generated (chunks x delay), as a real server does.

Medians over `--runs` runs, cache off. Writes a markdown table (default bench/results/streaming.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

PROGRAM = '''\
type Verdict = "supported" | "refuted" | "not enough info"

signature Verify {
  """Check the claim against the evidence."""
  in  claim: str
  in  evidence: str
  out verdict: Verdict
  out confidence: float
  out explanation: str
}

module Check(claim: str, evidence: str) -> (verdict: Verdict, confidence: float, explanation: str) {
  let verify = ChainOfThought(Verify)
  return verify(claim: claim, evidence: evidence)
}
'''

REASONING = ("The claim says the bridge opened in 1937. The evidence quotes the opening ceremony of May 27, "
             "1937, attended by two hundred thousand people who walked across the span before it carried "
             "cars the next day. The date in the claim matches the date in the evidence, and nothing in the "
             "evidence contradicts it. So the claim is supported by the evidence given.")
ANSWER = (f"[[ ## reasoning ## ]]\n{REASONING}\n\n[[ ## verdict ## ]]\nsupported\n\n"
          "[[ ## confidence ## ]]\n0.9\n\n[[ ## explanation ## ]]\nThe evidence dates the opening to May 27, "
          "1937, as the claim says.\n\n[[ ## completed ## ]]")
INPUTS = {"claim": "The Golden Gate Bridge opened in 1937.",
          "evidence": "On May 27, 1937, the bridge opened to pedestrians; cars crossed the next day."}


def measure(prog: object, runs: int) -> dict[str, float]:
    from lmp.runtime.streaming import Partial

    first_text, first_typed, full, plain = [], [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        t_text = t_typed = None
        for item in prog.Check.stream(**INPUTS):  # type: ignore[attr-defined]
            now = time.perf_counter() - start
            if isinstance(item, Partial):
                if t_text is None and item.reasoning:
                    t_text = now
                if t_typed is None and item.verdict is not None:
                    t_typed = now
            else:
                assert item.verdict == "supported" and item.confidence == 0.9, item
                full.append(now)
        assert t_text is not None and t_typed is not None
        first_text.append(t_text)
        first_typed.append(t_typed)
        start = time.perf_counter()
        prog.Check(**INPUTS)  # type: ignore[attr-defined]
        plain.append(time.perf_counter() - start)
    return {"first_text": statistics.median(first_text), "first_typed": statistics.median(first_typed),
            "full": statistics.median(full), "plain": statistics.median(plain)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="0.01,0.03,0.06", help="seconds per token, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "streaming.md"))
    args = parser.parse_args(argv)

    import lmp
    from lmp.runtime.lm import FakeServer, LiteLLM
    from lmp.runtime.lm.stream import split_tokens

    tokens = len(split_tokens(ANSWER))
    verdict_at = len(split_tokens(ANSWER.split("supported")[0])) + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check.lmp")
        with open(path, "w") as f:
            f.write(PROGRAM)
        prog = lmp.load(path)
        rows = []
        delays = [float(d) for d in args.delays.split(",")]
        for i, delay in enumerate(delays, 1):
            with FakeServer(responder=lambda body: ANSWER) as srv:
                lm = LiteLLM("openai/fake", api_base=srv.url, params={"server": "llama.cpp"})
                lm.complete([{"role": "user", "content": "warm-up"}])  # the client's start-up is not measured
                srv.token_delay = delay
                with lmp.context(lm=lm, cache=False):
                    eta = (len(delays) - i + 1) * args.runs * 2 * tokens * delay
                    print(f"[{i}/{len(delays)}] {delay * 1000:g} ms/token, {args.runs} runs (~{eta:.0f} s left)",
                          file=sys.stderr, flush=True)
                    rows.append((delay, measure(prog, args.runs)))

    lines = [
        "# Streaming: time to first output vs full answer",
        "",
        f"`python bench/streaming.py --delays {args.delays} --runs {args.runs}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores; load average "
        f"{os.getloadavg()[0]:.1f} at the end).",
        "",
        f"A ChainOfThought program over the loopback fake server: an answer of {tokens} chunks (one word "
        f"each), reasoning first; the literal `verdict` is chunk {verdict_at}. Grammar-constrained requests "
        f"(`server: llama.cpp`), cache off, medians of {args.runs} runs, seconds from the call.",
        "",
        "| delay / token | first text (reasoning) | first typed field (verdict) | full answer, streamed "
        "| plain call (no stream) | first text / full |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for delay, m in rows:
        lines.append(f"| {delay * 1000:g} ms | {m['first_text']:.3f} | {m['first_typed']:.3f} | {m['full']:.3f} "
                     f"| {m['plain']:.3f} | {m['first_text'] / m['full']:.0%} |")
    lines += ["", "The streamed answer ends when the plain call does (the same chunks; partial parsing runs "
              "while the next chunk is on its way); the reasoning shows after the first few chunks (the header "
              "comes first), the typed field as soon as its section is complete.", ""]
    text = "\n".join(lines)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
