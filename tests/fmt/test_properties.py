"""Property: formatting any valid program (random layout, comments, quoting) succeeds, is
idempotent, keeps the span-free IR and keeps every comment in order."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import assert_formats_safely

NAMES = st.sampled_from(["a", "b", "query", "ctx", "x1", "value_2"])
SP = st.sampled_from([" ", "  ", ""])
WORD_CHARS = st.sampled_from(list("ab #\"\\'{}()-") + ["\\n", "\\t", "é"])


@st.composite
def string(draw) -> str:  # noqa: ANN001
    body = "".join(draw(st.lists(WORD_CHARS, max_size=8)))
    body = body.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n").replace("\\\\t", "\\t")
    return '"' + body + '"'


@st.composite
def comment(draw) -> str:  # noqa: ANN001
    if draw(st.integers(0, 3)):
        return ""
    return draw(SP) + " # " + draw(st.sampled_from(["note", "a # b", 'say "hi"', "", "x  "]))


@st.composite
def expr(draw, depth: int = 0) -> str:  # noqa: ANN001
    leaves = [NAMES, st.integers(0, 99).map(str), string(), st.sampled_from(
        ["true", "false", "none", "True", "None", "1.5", "2e3"])]
    if depth >= 3:
        return draw(st.one_of(*leaves))
    kind = draw(st.integers(0, 10))
    sub = expr(depth + 1)
    if kind <= 2:
        return draw(st.one_of(*leaves))
    if kind == 3:
        items = draw(st.lists(sub, max_size=3))
        sep = draw(st.sampled_from([", ", ",", ",\n   "]))
        return "[" + sep.join(items) + ("," if items and draw(st.booleans()) else "") + "]"
    if kind == 4:
        args = draw(st.lists(sub, max_size=2))
        kws = [f"{draw(NAMES)}{draw(st.sampled_from([': ', '=', ' : ']))}{draw(sub)}"
               for _ in range(draw(st.integers(0, 2)))]
        names = set()
        kws = [k for k in kws if not (k.split(":")[0].split("=")[0].strip() in names
                                      or names.add(k.split(":")[0].split("=")[0].strip()))]
        parts = args + kws
        sep = draw(st.sampled_from([", ", ",\n    "]))
        cm = draw(comment())
        return f"{draw(NAMES)}({sep.join(parts)}{',' + cm + chr(10) if cm and parts else ''})"
    if kind == 5:
        return f"{draw(sub)}.{draw(NAMES)}"
    if kind == 6:
        op = draw(st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or", "in",
                                   "not in", "contains"]))
        return f"{draw(sub)}{draw(SP) or ' '}{op} {draw(sub)}"
    if kind == 7:
        return f"not {draw(sub)}" if draw(st.booleans()) else f"-{draw(sub)}"
    if kind == 8:
        return f"({draw(sub)})"
    if kind == 9:
        return f"{draw(sub)}[{draw(sub)}]"
    return f"({draw(NAMES)}: {draw(sub)})"


TYPES = st.sampled_from(["str", "int", "float?", "list[str]", "dict[str, int]", '"p" | "q"',
                         "list[{a: str, b: int}]", '("x" | "y")?'])


@st.composite
def stmt(draw, depth: int = 0) -> list[str]:  # noqa: ANN001
    kind = draw(st.integers(0, 7 if depth < 2 else 4))
    cm = draw(comment())
    if kind == 0:
        return [f"{draw(NAMES)} = {draw(expr())}{cm}"]
    if kind == 1:
        return [f"{draw(NAMES)}: {draw(TYPES)} = {draw(expr())}{cm}"]
    if kind == 2:
        return [f"{draw(NAMES)} += {draw(expr())}{cm}"]
    if kind == 3:
        return [f"return {draw(expr())}{cm}" if draw(st.booleans()) else "return"]
    if kind == 4:
        return [f"{draw(expr())}{cm}"]
    body = draw(block(depth + 1))
    if kind == 5:
        return [f"for {draw(NAMES)} in {draw(expr())} {{{cm}", *body, "}"]
    lines = [f"if {draw(expr())} {{{cm}", *body]
    if draw(st.booleans()):
        lines += [f"}} elif {draw(expr())} {{", *draw(block(depth + 1))]
    if draw(st.booleans()):
        lines += ["} else {", *draw(block(depth + 1))]
    return lines + ["}"]


@st.composite
def block(draw, depth: int = 0) -> list[str]:  # noqa: ANN001
    out: list[str] = []
    for s in draw(st.lists(stmt(depth), max_size=3)):
        if draw(st.integers(0, 4)) == 0:
            out.append("")
        if draw(st.integers(0, 4)) == 0:
            out.append("# " + draw(st.sampled_from(["lead", "x"])))
        out += ["  " * (depth + 1) + ln for ln in s]
    return out


@st.composite
def decl(draw) -> str:  # noqa: ANN001
    kind = draw(st.integers(0, 9))
    name = draw(st.sampled_from(["A", "Bee", "Sig", "Mod"])) + str(draw(st.integers(0, 9)))
    cm = draw(comment())
    if kind == 0:
        return f"type {name} = {draw(TYPES)}{cm}"
    if kind == 1:
        fields = [f"  {draw(NAMES)}: {draw(TYPES)}{draw(comment())}" for _ in range(draw(st.integers(0, 3)))]
        return f"type {name} = {{{cm}\n" + "\n".join(fields) + "\n}"
    if kind == 2:
        lines = []
        if draw(st.booleans()):
            lines.append('  """' + draw(st.sampled_from(["Do it.", "Two\n   lines.", ' quoted "x" '])) + '"""')
        for role in ("in", "out"):
            for _ in range(draw(st.integers(0, 2))):
                desc = " " + draw(string()) if draw(st.booleans()) else ""
                lines.append(f"  {role} {draw(NAMES)}: {draw(TYPES)}{desc}{draw(comment())}")
        return f"signature {name} {{{cm}\n" + "\n".join(lines) + "\n}"
    if kind == 3:
        return f'signature {name} = "q, ctx: list[str] -> a: int"{cm}'
    if kind == 4:
        kv = ", ".join(f"{k}: {draw(st.sampled_from(['0.5', '-1', 'true', '[1, 2]']))}"
                       for k in draw(st.lists(NAMES, max_size=2, unique=True)))
        return f'model {name.lower()} = "openai/x"' + (f" {{ {kv} }}" if kv else "") + cm
    if kind == 5:
        return f'tool {name.lower()}(q: str, k: int = 3) -> list[str] = "pkg.mod:fn"{cm}'
    if kind == 6:
        kvs = "\n".join(f"  {k}: {draw(expr())}" for k in draw(st.lists(NAMES, max_size=3, unique=True)))
        return f"example {name} {{{cm}\n{kvs}\n}}"
    if kind == 7:
        return f'retriever {name.lower()} = bm25("docs/*.md", k: 2){cm}'
    if kind == 8:  # a test block: inputs, then expect/check lines, in any order
        items = [f"  {k}: {draw(expr())}{draw(comment())}" for k in draw(st.lists(NAMES, max_size=2, unique=True))]
        items += [f"  {draw(st.sampled_from(['expect', 'check']))} {draw(expr())}{draw(comment())}"
                  for _ in range(draw(st.integers(0, 3)))]
        items = draw(st.permutations(items))
        return f"test t_{name.lower()} for {name} {{{cm}\n" + "\n".join(items) + "\n}"
    word = draw(st.sampled_from(["module", "metric"]))
    lets = [f'  let p{i} = Predict("q -> a"){draw(comment())}' for i in range(draw(st.integers(0, 2)))]
    ret = " -> (a: str)" if word == "module" else " -> bool"
    return f"{word} {name}(q: str, k: int = 1){ret} {{{cm}\n" + "\n".join(lets + draw(block())) + "\n}"


@st.composite
def program(draw) -> str:  # noqa: ANN001
    parts = draw(st.lists(decl(), max_size=5))
    seps = [draw(st.sampled_from(["\n", "\n\n", "\n\n\n", "\n# between\n"])) for _ in parts]
    return "".join(p + s for p, s in zip(parts, seps, strict=True))


# How many examples, and whether random ones, is the profile's (tests/conftest.py): 300 fixed ones by default.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program())
def test_formatting_valid_programs_is_safe_and_idempotent(text: str) -> None:
    from lmp.syntax.parser import parse

    if parse(text).diagnostics:  # the generator aims at valid text; skip the rare miss
        return
    assert_formats_safely(text)


def test_the_default_profile_is_deterministic() -> None:
    """CI and a fresh clone run the same examples every time (tests/conftest.py); only the nightly profile
    searches at random."""
    import os

    import pytest

    if os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci":
        pytest.skip(f"HYPOTHESIS_PROFILE={os.environ['HYPOTHESIS_PROFILE']} chosen")
    assert settings.default.derandomize is True
    assert settings.default.database is None
    assert settings.default.max_examples >= 300
