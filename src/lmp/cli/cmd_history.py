"""`lmp history`: what was sent to and received from models, with tokens, cost, latency, cache hits."""

from __future__ import annotations

import argparse
import json
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="show recent model calls (messages, responses, tokens, cost, cache)",
                       description="Show model calls recorded in .lmp_cache/history.jsonl (or $LMP_CACHE_DIR).")
    p.add_argument("--last", type=int, default=10, metavar="N", help="how many calls (default 10; 0 = all)")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.add_argument("--full", action="store_true", help="show every message, not just the last user message")
    p.add_argument("--file", metavar="HISTORY.jsonl", help="read another history file")
    p.set_defaults(func=run)


def _clip(text: str, n: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= n else text[:n] + " …"


def run(args: argparse.Namespace) -> int:
    from lmp.runtime.lm.history import CallRecord, History
    from lmp.secrets import scrub_data

    # Scrubbed again on display: a file written by an older lmp, or by hand, may still hold a key.
    records = [CallRecord.from_dict(scrub_data(r.to_dict(), drop_secret_keys=True))
               for r in History.read_file(args.file, limit=args.last or None)]
    if args.json:
        for r in records:
            print(json.dumps(r.to_dict(), ensure_ascii=False, default=str))
        return 0
    if not records:
        print("no model calls recorded yet (they are kept in .lmp_cache/history.jsonl by `lmp run`)")
        return 0
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.time))
        status = "cache hit" if r.cached else f"{r.latency_s:.2f}s"
        print(f"── {when} · {r.model} · {r.predictor or '-'} · {r.prompt_tokens}+{r.completion_tokens} tokens · "
              f"${r.cost:.4f} · {status}")
        shown = r.messages if args.full else [m for m in r.messages if m["role"] == "user"][-1:]
        for m in shown:
            print(f"  [{m['role']}] " + (m["content"] if args.full else _clip(m["content"])).replace("\n", "\n    "))
        if r.error:
            print(f"  [error] {r.error}")
        else:
            print("  [response] " + (r.response or "" if args.full else _clip(r.response or "")).replace("\n", "\n    "))
        if r.coercions:
            print("  [coercions] " + "\n    ".join(r.coercions))
    totals = History().totals(records)
    print(f"{totals.calls} call(s), {totals.cached} cached, {totals.tokens} tokens, ${totals.cost:.4f}")
    return 0
