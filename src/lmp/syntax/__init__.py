"""Text -> Lark syntax tree, with newline handling and error recovery."""

from lmp.syntax.parser import ParseResult, parse, parse_signature_spec

__all__ = ["ParseResult", "parse", "parse_signature_spec"]
