"""Which engine parses a text: the lean one (`lmp.syntax.lalr`), or Lark itself.

Both run the same LALR tables, built by Lark from `grammar/lmp.lark`, and give the same trees, token
offsets, comments and errors (tests/syntax/test_lalr.py). The lean engine is the default: it needs no
Lark import (~40 ms) and loads its tables in ~2 ms where Lark unpickles its parser in ~12 ms, so a fresh
`lmp check` of a small file starts fast; and it parses faster than Lark's compiled engine, lark_cython
(bench/parser_engines.py: 2,000 generated lines in ~36 ms of CPU, ~46 with lark_cython, ~61 pure Lark).
Lark parses when the lean engine cannot (a grammar feature it does not do: `lalr_export.Unsupported`)
or when `LMP_PARSER_ENGINE=lark` asks for it (to compare them).

Lark's errors are translated into `lmp.syntax.errors`, and Lark builds `lmp.syntax.tree.Tree`s, so
nothing past this module knows which engine ran.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

from lmp.syntax.errors import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lmp.syntax.tree import Tree, set_offsets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lmp.syntax.lalr import LeanParser

__all__ = ["UnexpectedInput", "grammar_file", "grammar_text", "parse", "terminal"]

_OPTIONS = {"parser": "lalr", "lexer": "contextual", "propagate_positions": True, "maybe_placeholders": False,
            "start": ["start", "sig_spec"]}
_sink = threading.local()  # where Lark's lexer puts the COMMENT tokens of the parse running on this thread


def _comment(token: object) -> object:
    comments = getattr(_sink, "comments", None)
    if comments is not None:
        comments.append(token)
    return token


def grammar_file() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "lmp.lark")
    if os.path.exists(packaged):
        return packaged
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))), "grammar", "lmp.lark")


@lru_cache(maxsize=1)
def grammar_text() -> str:
    with open(grammar_file(), encoding="utf-8") as fh:
        return fh.read()


class _Offsets:
    """Lark's position propagation (`propagate_positions`), replaced by lmp's: offsets only, the same
    rule as the lean engine's (`set_offsets`). Lines and columns come from `lmp.syntax.positions`."""

    __slots__ = ("node_builder",)

    def __init__(self, node_builder: object, node_filter: object = None) -> None:
        self.node_builder = node_builder

    def __call__(self, children: list[object]) -> object:
        res = self.node_builder(children)  # type: ignore[operator]
        set_offsets(res, children)
        return res


@lru_cache(maxsize=1)
def lark_parser() -> Any:
    """Lark's parser for lmp's grammar (its compiled engine when lark_cython is installed), from the
    disk cache when possible (`lmp.syntax.tables`)."""
    from lmp.syntax.larkload import import_lark

    import_lark()
    # The comment callback is given once, when the parser is made: Lark's lexers copy their callbacks
    # when they are first used, so a callback swapped in per parse only ever served the first parse.
    options: dict[str, object] = {**_OPTIONS, "tree_class": Tree, "lexer_callbacks": {"COMMENT": _comment}}
    try:  # Lark's compiled LALR engine: same grammar, same trees, about twice as fast
        import lark_cython

        options["_plugins"] = lark_cython.plugins
    except ImportError:
        pass
    import lark.parse_tree_builder as tree_builder

    from lmp.syntax.tables import load_or_build

    standard = getattr(tree_builder, "PropagatePositions", None)
    if standard is not None:
        tree_builder.PropagatePositions = _Offsets  # read when the parser is built or loaded
    try:
        return load_or_build(grammar_text(), options)
    finally:
        if standard is not None:
            tree_builder.PropagatePositions = standard


@lru_cache(maxsize=1)
def lean_parser() -> LeanParser | None:
    """The lean engine, from its cached tables, exported from Lark's first when there are none (None
    if the grammar needs something only Lark does)."""
    from lmp.syntax import lean_tables
    from lmp.syntax.lalr import LeanParser

    grammar = grammar_text()
    data = lean_tables.load(grammar)
    if data is None:
        from lmp.syntax.lalr_export import export

        try:
            data = export(_pure_lark(), grammar)
        except Exception:  # noqa: BLE001 - a grammar feature it lacks (Unsupported), or a Lark whose
            return None  # internals moved: Lark parses instead, slower but the same
        lean_tables.store(grammar, data)
    return LeanParser(data)


def _pure_lark() -> Any:
    """Lark's parser without the compiled plugin: the tables are exported from Lark's own classes."""
    from lmp.syntax.larkload import import_lark

    import_lark()
    from lmp.syntax.tables import load_or_build

    return load_or_build(grammar_text(), _OPTIONS)


def _engine() -> str:
    return "lark" if os.environ.get("LMP_PARSER_ENGINE", "") == "lark" else "lean"


def parse(text: str, start: str = "start", comments: list | None = None) -> Tree:
    """Parse `text` from the rule `start`; COMMENT tokens are appended to `comments` if given.
    Raises `lmp.syntax.errors.UnexpectedToken` / `UnexpectedCharacters`."""
    if _engine() == "lean":
        lean = lean_parser()
        if lean is not None:
            return lean.parse(text, start, comments)
    return _lark_parse(text, start, comments)


def _lark_parse(text: str, start: str, comments: list | None) -> Tree:
    from lark.exceptions import UnexpectedCharacters as LarkCharacters
    from lark.exceptions import UnexpectedToken as LarkToken

    lark = lark_parser()
    _sink.comments = comments
    try:
        return lark.parse(text, start=start)
    except LarkToken as err:
        raise UnexpectedToken(err.token, err.expected) from None
    except LarkCharacters as err:
        raise UnexpectedCharacters(err.pos_in_stream, err.allowed or ()) from None
    finally:
        _sink.comments = None


def terminal(name: str) -> tuple[str, str] | None:
    """A terminal's pattern: ("str", text) or ("re", regexp); None for an unknown name."""
    lean = lean_parser()
    if lean is not None:
        return lean.terminals.get(name)
    try:
        pattern = lark_parser().get_terminal(name).pattern
    except KeyError:
        return None
    return pattern.type, pattern.value
