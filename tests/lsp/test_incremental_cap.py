"""The language server's incremental parse reports syntax errors like the whole-file parse: 50 at most."""

from __future__ import annotations

from lmp.lsp.incremental import IncrementalParser
from lmp.syntax.parser import parse


def test_syntax_error_cap_is_the_whole_file_parse_s():
    text = 'signature S = "q -> a"\n\n' + "".join(
        f"module M{i}(q: str) -> (a: str) {{\n  let p = Predict(S)\n  r = = p(q: q)\n  return (a: q)\n}}\n\n"
        for i in range(80))
    whole = parse(text)
    inc = IncrementalParser().parse(text)
    assert len(whole.diagnostics) == len(inc.diagnostics) == 50
    assert [d.span for d in inc.diagnostics] == [d.span for d in whole.diagnostics]
    assert sorted(inc.unreported) == sorted(whole.unreported) and len(inc.unreported) == 30
