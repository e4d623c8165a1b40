"""Text -> Lark syntax tree, with newline handling and error recovery."""

from lmp.syntax.larkload import import_lark

import_lark()

# isort: split

from lmp.syntax.limits import MAX_FILE_BYTES, size_error  # noqa: E402 - after the Lark import
from lmp.syntax.parser import ParseResult, parse, parse_signature_spec  # noqa: E402

__all__ = ["MAX_FILE_BYTES", "ParseResult", "parse", "parse_signature_spec", "size_error"]
