"""`lmp run --stream`: print each output field as it arrives.

Human form: the fields of the predictor call running now, in the order the model writes them; a
`str` field (ChainOfThought's `reasoning` first) is printed as its text grows, any other field once
it is complete and valid for its type. When the module makes several predictor calls, each call is
introduced by a `── Module.predictor` line on stderr (a repair attempt says so there too). At the
end, any output of the module's validated result that was not printed with that value is printed.

JSON form (`--json`): one JSON object per line, `{"event": "partial", "fields", "call", "predictor",
"attempt"}` for each change, then `{"event": "result", "output": {...}}`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import IO, Any

from lmp.runtime.streaming import Partial
from lmp.runtime.values import Prediction, to_plain


def _text(value: Any) -> str:
    value = to_plain(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class StreamPrinter:
    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.key: tuple[str | None, str] | None = None  # (predictor, attempt) of the call shown
        self.calls = 0
        self.shown: dict[str, Any] = {}  # field -> value printed for the current call
        self.open: str | None = None  # the str field whose text is being printed
        self.last_call: dict[str, Any] = {}

    def partial(self, p: Partial) -> None:
        key = (p.predictor, p.attempt)
        if key != self.key:
            self._close()
            self.key = key
            self.calls += 1
            self.shown = {}
            if p.attempt != "first":
                print(f"── {p.predictor}: the answer could not be parsed; {p.attempt} attempt", file=self.err)
            elif self.calls > 1 or p.predictor is None:
                print(f"── {p.predictor}", file=self.err)
        self.last_call = dict(p.call)
        for name, value in p.call.items():
            if value is None or self.shown.get(name) == value:
                continue
            before = self.shown.get(name)
            if self.open == name and isinstance(value, str) and isinstance(before, str) and value.startswith(before):
                self.out.write(value[len(before):])
            elif name in self.shown:
                continue  # a value that changed in a way that cannot be appended: the final says it
            else:
                self._close()
                self.out.write(f"{name}: {_text(value)}")
                if isinstance(value, str):
                    self.open = name
                else:
                    self.out.write("\n")
            self.shown[name] = value
            self.out.flush()

    def _close(self) -> None:
        if self.open is not None:
            self.out.write("\n")
            self.open = None

    def final(self, result: Prediction) -> None:
        self._close()
        for name, value in result.items():
            if to_plain(self.shown.get(name)) != to_plain(value):
                text = _text(value)
                if "\n" in text:
                    print(f"{name}:", file=self.out)
                    for line in text.splitlines():
                        print(f"  {line}", file=self.out)
                else:
                    print(f"{name}: {text}", file=self.out)
        self.out.flush()


def print_stream(items: Iterable[Partial | Prediction], as_json: bool) -> Prediction:
    """Print a streamed run; its final Prediction."""
    printer = StreamPrinter()
    for item in items:
        if isinstance(item, Partial):
            if as_json:
                print(json.dumps({"event": "partial", "fields": to_plain(dict(item.items())),
                                  "call": to_plain(item.call), "predictor": item.predictor,
                                  "attempt": item.attempt}, ensure_ascii=False), flush=True)
            else:
                printer.partial(item)
            continue
        if as_json:
            print(json.dumps({"event": "result", "output": item.model_dump()}, ensure_ascii=False), flush=True)
        else:
            printer.final(item)
        return item
    raise RuntimeError("the streamed run ended without a result")
