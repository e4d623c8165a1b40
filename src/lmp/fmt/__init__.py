"""`lmp fmt`: the canonical layout of `.lmp` source.

`format_source(text, path)` returns the formatted text or raises `FormatError` when the text
has syntax errors, or when the formatted text would not mean the same as the input (a
different syntax tree once spans, quoting and layout are set aside) or would lose or reorder
a comment. Layout rules: see `lmp.fmt.printer` and docs/language.md.
"""

from lmp.fmt.format import FormatError, format_source, is_formatted

__all__ = ["FormatError", "format_source", "is_formatted"]
