"""The checker on Image, History and parallel(): types flow (list of callee results, `T?` with
errors: "keep"), and each misuse is one diagnostic with its code (E024, E042, E092, E093) and a hint."""

from __future__ import annotations

import textwrap

from lmp.project import load_text

HEADER = textwrap.dedent('''
    signature Classify {
      in text: str
      out label: "pos" | "neg"
    }

    signature Pair {
      in a: str
      in b: int
      out same: bool
    }

    signature Look {
      in photo: Image
      in history: History
      out caption: str
    }

    tool shout(text: str) -> str = "tools:shout"
''')


def diags(body: str, header: str = HEADER):
    text = header + "\n" + textwrap.dedent(body)
    return [d for d in load_text(text, "/tmp/t.lmp").diagnostics if d.severity.value == "error"]


def one(body: str, code: str):
    found = diags(body)
    assert [d.code for d in found] == [code], [(d.code, d.message) for d in found]
    return found[0]


def module(lines: str, params: str = "texts: list[str]", outputs: str = "n: int") -> str:
    inner = textwrap.indent(textwrap.dedent(lines).strip(), "  ")
    return (f"module M({params}) -> ({outputs}) {{\n  let c = Predict(Classify)\n  let p = Predict(Pair)\n"
            f"  let look = Predict(Look)\n{inner}\n}}\n")


def test_parallel_result_types_flow():
    assert diags(module('''
        preds = parallel(c, texts, max: 4)
        first: str = preds[0].label
        words = parallel(shout, texts)
        w: list[str] = words
        pairs = parallel(p, [(a: "x", b: 1), (a: "y", b: 2)])
        s: bool = pairs[0].same
        kept = parallel(c, texts, errors: "keep")
        maybe = kept[0]
        label = maybe.label
        return (n: len(first) + len(w) + len(label) + int(s))
    ''')) == []


def test_wrong_element_type_has_a_hint():
    d = one(module('''
        preds = parallel(c, [1, 2, 3])
        return (n: len(preds))
    '''), "E093")
    assert d.message == "predictor `c` takes `text: str`, but the items are `int`"
    assert "str(" in d.hint


def test_plain_items_for_a_several_input_callee():
    d = one(module('''
        preds = parallel(p, texts)
        return (n: len(preds))
    '''), "E093")
    assert "takes several inputs (`a: str`, `b: int`); the items are `str`" in d.message
    assert d.hint == "pass a list of records naming them, e.g. `parallel(p, [(a: ..., b: ...), ...])`"


def test_record_items_are_checked_field_by_field():
    found = diags(module('''
        preds = parallel(p, [(a: "x", bb: 1)])
        wrong = parallel(p, [(a: "x", b: "one")])
        return (n: len(preds) + len(wrong))
    '''))
    messages = [(d.code, d.message, d.hint) for d in found]
    assert ("E093", "the items have a field `bb`, which predictor `p` does not take", "did you mean `b`?") in messages
    assert any(m[1] == "input `b` of predictor `p` is `int`, but the items' `b` is `str`" for m in messages)
    assert len(found) == 2  # the misspelt `bb` is one mistake, not also a missing `b`


def test_callee_and_options_misuse():
    d = one(module('''
        preds = parallel(texts, texts)
        return (n: len(preds))
    '''), "E093")
    assert d.message == "`texts` is a variable; `parallel` runs a predictor, module or tool"
    d = one(module('''
        preds = parallel(lok, texts)
        return (n: len(preds))
    '''), "E093")
    assert d.message == "`parallel` cannot run `lok`: it is not a predictor, module or tool"
    assert d.hint == "did you mean `look`?"
    d = one(module('''
        preds = parallel(c, texts, max: 0)
        return (n: len(preds))
    '''), "E093")
    assert d.message == "`max` of parallel must be at least 1"
    d = one(module('''
        preds = parallel(c, texts, errors: "ignore")
        return (n: len(preds))
    '''), "E093")
    assert '"raise" or "keep"' in d.message
    d = one(module('''
        preds = parallel(c, "one text")
        return (n: len(preds))
    '''), "E093")
    assert "over a list" in d.message and d.hint == "pass a list of its inputs, e.g. `parallel(c, [x, y])`"


def test_parallel_marks_the_predictor_used():
    found = load_text(HEADER + "\n" + module('''
        preds = parallel(c, texts)
        pairs = parallel(p, [(a: "x", b: 1)])
        looks = parallel(look, [(photo: image("a.png"), history: [])])
        return (n: len(preds) + len(pairs) + len(looks))
    '''), "/tmp/t.lmp").diagnostics
    assert [d for d in found if d.code == "W200"] == []


def test_image_and_history_inputs():
    assert diags(module('''
        r = look(photo: image("cat.png"), history: [(role: "user", content: "hi")])
        r2 = look(photo: image("cat.png"), history: [])
        return (n: len(r.caption) + len(r2.caption))
    ''')) == []
    d = one(module('''
        r = look(photo: "cat.png", history: [])
        return (n: len(r.caption))
    '''), "E042")
    assert d.message == 'input `photo` of `Look` is `Image`, got `"cat.png"`'
    assert d.hint.startswith("make an Image from text with image(...)")
    d = one(module('''
        r = look(photo: image("cat.png"), history: ["hi", "there"])
        return (n: len(r.caption))
    '''), "E042")
    assert d.message.startswith("input `history` of `Look` is `History`, got `list[")
    d = one(module('''
        r = look(photo: image(3), history: [])
        return (n: len(r.caption))
    '''), "E092")
    assert "`image` takes text" in d.message


def test_image_and_history_are_not_model_outputs():
    found = diags('''
        signature Draw {
          in prompt: str
          out picture: Image
          out turns: History
        }
    ''', header="")
    assert [d.code for d in found] == ["E024", "E024"]
    assert "a model answers in text" in found[0].hint
    # A module may return the conversation (for the caller's next turn), not an image.
    ok = diags(module('return (n: 1, h: [(role: "user", content: "x")])', outputs="n: int, h: History"))
    assert ok == []
    d = one(module('return (n: 1, img: image("a.png"))', outputs="n: int, img: Image"), "E024")
    assert "module outputs are JSON values" in d.hint


def test_own_type_named_image_wins():
    assert diags('''
        type Image = {url: str}
        signature S {
          in picture: Image
          out ok: bool
        }
    ''', header="") == []
