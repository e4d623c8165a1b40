"""Text -> syntax tree (`lmp.syntax.tree`), with newline handling and error recovery."""

from lmp.syntax.limits import MAX_FILE_BYTES, size_error
from lmp.syntax.parser import ParseResult, parse, parse_signature_spec

__all__ = ["MAX_FILE_BYTES", "ParseResult", "parse", "parse_signature_spec", "size_error"]
