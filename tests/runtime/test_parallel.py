"""`parallel(fn, items, max: N, errors: ...)` over the loopback fake server with a per-request delay:
items run concurrently (overlapping requests), never more than `max` at once, results in input
order, traces in input order, errors raised (earliest failing item) or kept as `none`."""

from __future__ import annotations

import textwrap
import threading
import time

import pytest

from lmp.project import load_text
from lmp.runtime import settings, trace
from lmp.runtime.errors import LMOutputError, LmpRuntimeError
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.lm import FakeServer, History, LiteLLM
from tests.runtime.media_helpers import answer

PROGRAM = textwrap.dedent('''
    signature Classify {
      in text: str
      out label: "pos" | "neg"
    }

    signature Pair {
      in a: str
      in b: str
      out same: bool
    }

    module Labels(texts: list[str], n: int = 3) -> (labels: list[str]) {
      let classify = Predict(Classify)
      preds = parallel(classify, texts, max: n)
      labels: list[str] = []
      for p in preds {
        labels += [p.label]
      }
      return (labels: labels)
    }

    module Kept(texts: list[str]) -> (labels: list[str?]) {
      let classify = Predict(Classify)
      preds = parallel(classify, texts, max: 2, errors: "keep")
      labels: list[str?] = []
      for p in preds {
        if p == none {
          labels += [none]
        } else {
          labels += [p.label]
        }
      }
      return (labels: labels)
    }

    module One(text: str) -> (label: str) {
      let classify = Predict(Classify)
      return (label: classify(text: text).label)
    }

    module Tag(text: str, prefix: str = "#") -> (tag: str) {
      return (tag: prefix + text)
    }

    module Tags(texts: list[str]) -> (tags: list[str], custom: list[str]) {
      plain = parallel(Tag, texts)
      named = parallel(Tag, [(text: texts[0], prefix: "@")])
      tags: list[str] = []
      for t in plain {
        tags += [t.tag]
      }
      return (tags: tags, custom: [named[0].tag])
    }

    module Nested(texts: list[str]) -> (labels: list[str], same: list[bool]) {
      let pair = Predict(Pair)
      ones = parallel(One, texts, max: 4)
      pairs = parallel(pair, [(a: texts[0], b: texts[1]), (a: texts[1], b: texts[1])], max: 2)
      labels: list[str] = []
      for o in ones {
        labels += [o.label]
      }
      same: list[bool] = []
      for p in pairs {
        same += [p.same]
      }
      return (labels: labels, same: same)
    }
''')

DELAY = 0.3


@pytest.fixture
def program(tmp_path):
    loaded = load_text(PROGRAM, str(tmp_path / "par.lmp"))
    assert not loaded.errors, loaded.errors
    return loaded.program


class Tracker:
    """A responder that answers by the request's text and records how many requests were in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.spans: list[tuple[float, float]] = []

    def __call__(self, body: dict) -> str:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        start = time.perf_counter()
        time.sleep(DELAY)
        with self.lock:
            self.in_flight -= 1
            self.spans.append((start, time.perf_counter()))
        # The item's own message (a repair or JSON-adapter retry ends with other text).
        user = next(m["content"] for m in body["messages"] if m["role"] == "user" and "[[ ## " in m["content"])
        if "[[ ## a ## ]]" in user:
            a = user.split("[[ ## a ## ]]\n")[1].split("\n")[0]
            b = user.split("[[ ## b ## ]]\n")[1].split("\n")[0]
            return answer(same=str(a == b).lower())
        text = user.split("[[ ## text ## ]]\n")[1].split("\n")[0]
        if "boom" in text:
            return "not an answer"
        return answer(label="neg" if "bad" in text else "pos")


@pytest.fixture
def tracker():
    t = Tracker()
    with FakeServer(responder=t) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url, history=History(), num_retries=0)
        settings.configure(lm=lm, history=lm.history, cache=False)
        yield t


def test_items_run_concurrently_bounded_by_max_in_input_order(program, tracker):
    texts = [f"item {i}" + (" bad" if i % 3 == 0 else "") for i in range(7)]
    start = time.perf_counter()
    out = Interpreter(program).run("Labels", texts=texts, n=3)
    elapsed = time.perf_counter() - start
    assert out.labels == ["neg" if i % 3 == 0 else "pos" for i in range(7)]
    assert tracker.peak == 3  # overlapping requests, never more than max
    overlaps = sum(1 for i, (s1, e1) in enumerate(tracker.spans) for s2, _ in tracker.spans[i + 1:] if s1 < s2 < e1)
    assert overlaps >= 3
    # 7 items 3 at a time: 3 rounds of DELAY (0.9 s); a sequential loop needs at least 7 rounds.
    assert elapsed < 7 * DELAY


def test_max_one_is_sequential(program, tracker):
    out = Interpreter(program).run("Labels", texts=["a", "b bad", "c"], n=1)
    assert out.labels == ["pos", "neg", "pos"] and tracker.peak == 1


def test_traces_keep_input_order(program, tracker):
    texts = ["first", "second bad", "third", "fourth"]
    with trace.collect() as entries:
        Interpreter(program).run("Labels", texts=texts, n=4)
    assert [e.inputs["text"] for e in entries] == texts
    assert [e.outputs["label"] for e in entries] == ["pos", "neg", "pos", "pos"]


def test_modules_and_record_items(program, tracker):
    out = Interpreter(program).run("Nested", texts=["x bad", "y", "z"])
    assert out.labels == ["neg", "pos", "pos"] and out.same == [False, True]


def test_errors_raise_the_earliest_failing_item(program, tracker):
    with pytest.raises(LMOutputError) as err:
        Interpreter(program).run("Labels", texts=["ok", "boom one", "ok", "boom two", "ok", "ok", "ok"], n=2)
    assert "in parallel(classify), item 1" in "".join(getattr(err.value, "__notes__", []))
    # No new item starts after a failure: the items after the failing round never reach the model.
    assert len(tracker.spans) < 7 * 3


def test_errors_keep_gives_none_and_warns(program, tracker, capsys):
    out = Interpreter(program).run("Kept", texts=["fine", "boom", "bad"])
    assert out.labels == ["pos", None, "neg"]
    assert "parallel(classify): item 1 failed, result none" in capsys.readouterr().err


def test_max_must_be_positive(program):
    with pytest.raises(LmpRuntimeError, match="`max` must be a whole number of at least 1, got 0"):
        Interpreter(program).run("Labels", texts=["a"], n=0)


def test_empty_list_makes_no_calls(program, tracker):
    assert Interpreter(program).run("Labels", texts=[]).labels == []
    assert tracker.spans == []


def test_plain_items_bind_to_the_one_required_input(program):
    out = Interpreter(program).run("Tags", texts=["a", "b", "c"])
    assert out.tags == ["#a", "#b", "#c"] and out.custom == ["@a"]
