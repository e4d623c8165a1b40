"""docs/diagnostics.md is the catalogue of diagnostic codes; its examples are executable.

Each `## CODE: title` section holds an `lmp bad` block that must report CODE and an
`lmp fixed` block that must check without errors (and without CODE, for warnings).

Info strings: `lmp bad` / `lmp fixed` is the program, checked as `main.lmp` in an empty
temporary directory. Extra words:
  file=REL      another file written next to it before checking (for imports)
  encoding=ENC  the program is saved in ENC instead of UTF-8
  skip          the block is illustrative; the test generates the program instead
                (see GENERATED below)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lmp.diagnostics import Diagnostic
from lmp.project import load_program, load_text

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "diagnostics.md"
SRC = ROOT / "src" / "lmp"

HEADING = re.compile(r"^## ([EW]\d{3}): (\S.*)$", re.MULTILINE)
BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    kind: str  # "bad" or "fixed"
    text: str
    file: str | None = None
    encoding: str = "utf-8"
    skip: bool = False


@dataclass
class Section:
    code: str
    title: str
    body: str
    blocks: list[Block] = field(default_factory=list)

    def program(self, kind: str) -> Block:
        mains = [b for b in self.blocks if b.kind == kind and b.file is None]
        assert len(mains) == 1, f"{self.code}: expected one `lmp {kind}` block, found {len(mains)}"
        return mains[0]

    def extra_files(self, kind: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == kind and b.file is not None]


def parse_info(info: str, text: str) -> Block | None:
    words = info.split()
    if len(words) < 2 or words[0] != "lmp" or words[1] not in ("bad", "fixed"):
        return None
    block = Block(words[1], text)
    for word in words[2:]:
        if word == "skip":
            block.skip = True
        elif word.startswith("file="):
            block.file = word[len("file="):]
        elif word.startswith("encoding="):
            block.encoding = word[len("encoding="):]
        else:
            raise AssertionError(f"unknown word {word!r} in info string {info!r}")
    return block


def load_sections() -> list[Section]:
    doc = DOC.read_text(encoding="utf-8")
    heads = list(HEADING.finditer(doc))
    sections = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(doc)
        body = doc[m.end():end]
        section = Section(m.group(1), m.group(2), body)
        for b in BLOCK.finditer(body):
            block = parse_info(b.group(1), b.group(2))
            if block is not None:
                section.blocks.append(block)
        sections.append(section)
    return sections


SECTIONS = load_sections()
BY_CODE = {s.code: s for s in SECTIONS}


def deep_nesting(depth: int = 1000) -> str:
    return ("module Deep() -> (n: int) {\n  x = " + "[" * depth + '"deep"' + "]" * depth
            + "\n  return (n: len(x))\n}\n")


# Programs for `skip` blocks that cannot be shown readably in the document.
GENERATED = {"E003": deep_nesting}


def check(section: Section, kind: str, tmp_path: Path) -> list[Diagnostic]:
    main = section.program(kind)
    text = GENERATED[section.code]() if main.skip else main.text
    path = tmp_path / "main.lmp"
    extras = section.extra_files(kind)
    for extra in extras:
        target = tmp_path / extra.file  # type: ignore[operator]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(extra.text.encode(extra.encoding))
    if not extras and main.encoding == "utf-8":
        return load_text(text, str(path)).diagnostics
    path.write_bytes(text.encode(main.encoding))
    return load_program(path).diagnostics


def describe(diags: list[Diagnostic]) -> list[str]:
    return [f"{Path(d.path or '?').name}:{d.span.line + 1}: {d.severity.value}[{d.code}] {d.message}" for d in diags]


@pytest.mark.parametrize("code", list(BY_CODE))
def test_bad_example_reports_its_code(code: str, tmp_path: Path) -> None:
    section = BY_CODE[code]
    main = section.program("bad")
    if main.skip:
        assert code in GENERATED, f"{code}: a `skip` block needs a generated program in GENERATED"
    diags = check(section, "bad", tmp_path)
    hits = [d for d in diags if d.code == code]
    assert hits, f"{code}: the bad example does not report it; got {describe(diags)}"
    expected = "error" if code.startswith("E") else "warning"
    assert {d.severity.value for d in hits} == {expected}


@pytest.mark.parametrize("code", list(BY_CODE))
def test_fixed_example_checks_clean(code: str, tmp_path: Path) -> None:
    section = BY_CODE[code]
    assert not section.program("fixed").skip, f"{code}: the fixed example must be checkable"
    diags = check(section, "fixed", tmp_path)
    errors = [d for d in diags if d.severity.value == "error"]
    assert errors == [], f"{code}: the fixed example has errors: {describe(errors)}"
    assert code not in {d.code for d in diags}, f"{code}: the fixed example still reports it: {describe(diags)}"


@pytest.mark.parametrize("code", list(BY_CODE))
def test_section_shape(code: str) -> None:
    section = BY_CODE[code]
    severity = "error" if code.startswith("E") else "warning"
    assert re.search(rf"^Severity: {severity}\.", section.body, re.MULTILINE), f"{code}: no `Severity: {severity}.`"
    section.program("bad")
    section.program("fixed")


def emitted_codes() -> set[str]:
    codes: set[str] = set()
    for path in SRC.rglob("*.py"):
        codes.update(re.findall(r"""["']([EW]\d{3})["']""", path.read_text(encoding="utf-8")))
    return codes


def test_every_emitted_code_is_documented_and_nothing_else() -> None:
    emitted = emitted_codes()
    documented = set(BY_CODE)
    assert len(SECTIONS) == len(documented), "a code has two sections"
    assert sorted(emitted - documented) == [], "codes emitted in src/lmp but missing from docs/diagnostics.md"
    assert sorted(documented - emitted) == [], "codes documented but never emitted"


def test_sections_are_in_code_order() -> None:
    codes = [s.code for s in SECTIONS]
    assert codes == sorted(codes, key=lambda c: (c[0] != "E", c))


def test_every_heading_for_a_code_is_well_formed() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for line in doc.splitlines():
        if re.match(r"^##\s+[EW]\d", line):
            assert HEADING.match(line), f"malformed heading: {line!r}"


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if value is not None else "null"


def _keys(shape: object, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(shape, dict):
        for k, v in shape.items():
            out.add(prefix + k)
            out |= _keys(v, prefix + k + ".")
    elif isinstance(shape, list) and shape:
        out |= _keys(shape[0], prefix + "[].")
    return out


def test_json_schema_example_matches_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The documented JSON example has exactly the keys `lmp check --format json` prints."""
    from lmp.cli.main import main
    from lmp.cli.render import SCHEMA_VERSION

    doc = DOC.read_text(encoding="utf-8")
    m = re.search(r"^```json\n(.*?)^```", doc, re.MULTILINE | re.DOTALL)
    assert m, "no ```json example in the document"
    documented = json.loads(m.group(1))
    assert documented["version"] == SCHEMA_VERSION

    path = tmp_path / "qa.lmp"
    path.write_text(BY_CODE["E040"].program("bad").text, encoding="utf-8")
    assert main(["check", "--format", "json", str(path)]) == 1
    actual = json.loads(capsys.readouterr().out)
    assert actual["version"] == SCHEMA_VERSION
    assert [d["code"] for d in actual["diagnostics"]] == ["E040"]
    assert _keys(_shape(documented)) == _keys(_shape(actual))
    for key in _keys(_shape(actual)):
        leaf = key.split(".")[-1]
        if leaf != "[]":
            assert f"`{leaf}`" in doc, f"JSON key `{leaf}` is not described"
