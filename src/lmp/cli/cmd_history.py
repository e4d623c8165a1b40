"""`lmp history`: what was sent to and received from models, with tokens, cost, latency, cache hits."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="show recent model calls (messages, responses, tokens, cost, cache)",
                       description="Show model calls recorded in history.jsonl in the cache folder "
                                   "($LMP_CACHE_DIR, else $XDG_CACHE_HOME/lmp or ~/.cache/lmp): those of "
                                   "`lmp run`, `lmp eval`, `lmp test` and of runs started from the editor "
                                   "(the playground's Run lenses and Testing view). Each call says where it "
                                   "came from (`run`, `test greets (prog.lmp)`, `playground: module M "
                                   "(prog.lmp)`); keys are masked as ***.")
    p.add_argument("--last", type=_count, default=10, metavar="N", help="how many calls (default 10; 0 = all)")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.add_argument("--full", action="store_true", help="show every message, not just the last user message")
    p.add_argument("--file", metavar="HISTORY.jsonl", help="read another history file")
    p.add_argument("--source", choices=SOURCES, action="append", metavar="SOURCE",
                   help="only the calls made by this command or the editor (repeatable)")
    p.set_defaults(func=run)


# What made a call (the record's tags["source"]): `lmp run`, `lmp eval`, `lmp test`, the editor's playground.
SOURCES = ("run", "eval", "test", "playground")


def _source_of(record: Any) -> str | None:
    tags = record.tags if isinstance(record.tags, dict) else {}
    source = tags.get("source")
    return source if isinstance(source, str) else None


def _origin(record: Any) -> str:
    """` · playground: example nineveh (prog.lmp)` / ` · test battle (prog.lmp)`: where a call came from."""
    tags = record.tags if isinstance(record.tags, dict) else {}
    source = _source_of(record)
    if source is None:
        return ""
    test, run = tags.get("test"), tags.get("run")
    if isinstance(test, str):
        text = f" · test {test}" if source == "test" else f" · {source}: test {test}"
    elif isinstance(run, str):
        text = f" · {source}: {run}"
    else:
        text = f" · {source}"
    where = os.path.basename(tags["file"]) if isinstance(tags.get("file"), str) else ""
    return text + (f" ({where})" if where else "")


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of calls, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (all) or a positive number of calls, got {n}")
    return n


def _valid(data: Any) -> bool:
    """Whether a decoded line has the shape a call record is shown from (a hand-edited or foreign
    line must be skipped, not crash the listing half-way)."""
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        return False
    messages = data.get("messages")
    if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages):
        return False
    numbers = ("prompt_tokens", "completion_tokens", "cost", "latency_s", "time")
    if not all(isinstance(data.get(k, 0), int | float) and not isinstance(data.get(k, 0), bool) for k in numbers):
        return False
    texts = ("response", "error", "predictor")
    if not all(data.get(k) is None or isinstance(data.get(k), str) for k in texts):
        return False
    return isinstance(data.get("coercions", []), list) and all(isinstance(c, str) for c in data.get("coercions", []))


def read_records(path: str | None, limit: int | None) -> list[Any]:
    """The newest `limit` call records of a history file; every line that is not one is skipped with a
    single warning naming the line numbers."""
    from pathlib import Path  # here: `lmp --help` imports this module, pathlib costs it ~3 ms

    from lmp.runtime.lm.history import CallRecord, History

    p = Path(path) if path is not None else History.default_file()
    if not p.exists():
        return []
    records: list[Any] = []
    by_id: dict[str, Any] = {}
    bad: list[int] = []
    with p.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError:
                bad.append(n)
                continue
            if isinstance(data, dict) and "annotates" in data:  # coercions noted after the call (History)
                target = by_id.get(str(data["annotates"]))
                if target is not None and isinstance(data.get("coercions"), list):
                    target.coercions.extend(str(c) for c in data["coercions"])
                continue
            if not _valid(data):
                bad.append(n)
                continue
            record = CallRecord.from_dict(data)
            records.append(record)
            by_id[str(record.id)] = record
    if bad:
        listed = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        print(f"warning: {p}: skipped {len(bad)} line(s) that are not call records (line{'s' if len(bad) > 1 else ''} "
              f"{listed})", file=sys.stderr)
    return records[-limit:] if limit else records


def _clip(text: str, n: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= n else text[:n] + " …"


def run(args: argparse.Namespace) -> int:
    from lmp.runtime.lm.constrain import describe_call
    from lmp.runtime.lm.history import CallRecord, History
    from lmp.runtime.lm.tool_calls import describe_message
    from lmp.secrets import scrub_data

    # Scrubbed again on display: a file written by an older lmp, or by hand, may still hold a key.
    records = [CallRecord.from_dict(scrub_data(r.to_dict(), drop_secret_keys=True))
               for r in read_records(args.file, None if args.source else args.last or None)]
    if args.source:
        records = [r for r in records if _source_of(r) in args.source]
        records = records[-args.last:] if args.last else records
    if args.json:
        for r in records:
            print(json.dumps(r.to_dict(), ensure_ascii=False, default=str))
        return 0
    if not records:
        if args.source:
            print(f"no model calls from {' or '.join(args.source)} recorded")
            return 0
        print("no model calls recorded yet (`lmp run`, `lmp test` and editor runs keep them in history.jsonl "
              "in the cache folder)")
        return 0
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.time))
        status = "cache hit" if r.cached else f"{r.latency_s:.2f}s"
        print(f"── {when} · {r.model} · {r.predictor or '-'} · {r.prompt_tokens}+{r.completion_tokens} tokens · "
              f"${r.cost:.4f} · {status}" + _origin(r) + describe_call(r.constraint, r.finish_reason)
              + (" · native tools: " + ", ".join(r.tools.get("names") or []) if isinstance(r.tools, dict) else ""))
        shown = r.messages if args.full else [m for m in r.messages if m["role"] == "user"][-1:]
        for m in shown:
            text = describe_message(m)
            print(f"  [{m['role']}] " + (text if args.full else _clip(text)).replace("\n", "\n    "))
        if r.error:
            print(f"  [error] {r.error}")
        else:
            print("  [response] " + (r.response or "" if args.full else _clip(r.response or "")).replace("\n", "\n    "))
            for call in r.tool_calls or []:
                print(f"    -> {call.get('name')}({call.get('arguments')})")
        if r.coercions:
            print("  [coercions] " + "\n    ".join(r.coercions))
    totals = History().totals(records)
    print(f"{totals.calls} call(s), {totals.cached} cached, {totals.tokens} tokens, ${totals.cost:.4f}")
    return 0
