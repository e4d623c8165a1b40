"""Lark's built LALR parser -> plain data the lean engine (`lmp.syntax.lalr`) runs without Lark.

Runs only when the tables are built (once per grammar and machine, then cached by
`lmp.syntax.lean_tables`), with Lark imported. Everything that decides how a text is tokenized and
which tree comes out is taken from Lark's own objects and functions: the parse table, the contextual
lexer's terminal sets and their order, keyword-versus-name resolution (`_create_unless`) and the
child filters of the tree builder. So both engines give the same trees and the same errors
(tests/syntax/test_lalr.py compares them).

The data holds only str, int, bool, None, tuples, lists and dicts (marshal-able):

- `states[s]`: {symbol: action}, action >= 0 a shift (or goto) to that state, action < 0 a reduction
  by rule `~action`;
- `rules[r]`: (origin, size, tree name, expand single child, kept children or None), the kept children
  being (index, inline its children) pairs;
- `lexers[k]`: (terminal names in matching order, their regexps, {name terminal: {text: keyword
  terminal}}, terminals allowed here for the error message); `state_lexer[s]` is the lexer of state s;
  `root_lexer` the one with every terminal (a better error when a terminal is valid elsewhere).
"""

from __future__ import annotations

import marshal
import re
from typing import Any

FORMAT = 1


class Unsupported(Exception):
    """The grammar uses something the lean engine does not do (Lark then parses alone)."""


def export(lark: Any, grammar: str) -> dict[str, Any]:
    from lark.lexer import PatternStr, _create_unless
    from lark.parse_tree_builder import maybe_create_child_filter
    from lark.parsers.lalr_analysis import Shift

    from lmp.syntax.lalr import sre_magic

    options = lark.options
    if options.parser != "lalr" or options.lexer != "contextual" or options.postlex is not None:
        raise Unsupported("only LALR with the contextual lexer and no post-lexer")
    if options.maybe_placeholders or options.regex or options.use_bytes or lark.lexer_conf.g_regex_flags:
        raise Unsupported("maybe_placeholders, regex, use_bytes and global regex flags are not supported")
    table = lark.parser.parser._parse_table
    conf = lark.lexer_conf
    terminals_by_name = {t.name: t for t in conf.terminals}
    ignore = frozenset(str(n) for n in conf.ignore)

    rule_index: dict[Any, int] = {}
    rules: list[tuple] = []
    n_states = max(table.states) + 1
    states: list[dict[str, int]] = [{} for _ in range(n_states)]
    for s, actions in table.states.items():
        row = states[s]
        for symbol, (action, arg) in actions.items():
            if action is Shift:
                row[str(symbol)] = int(arg)
                continue
            r = rule_index.get(arg)
            if r is None:
                r = rule_index[arg] = len(rules)
                rules.append(_rule(arg, maybe_create_child_filter))
            row[str(symbol)] = ~r

    lexer_index: dict[tuple[str, ...], int] = {}
    lexers: list[tuple] = []

    def lexer_of(names: set[str]) -> int:
        terms = [terminals_by_name[n] for n in names if n in terminals_by_name]
        # BasicLexer's order: priority, then the longest possible match, then the longest text, then name.
        terms.sort(key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
        key = tuple(str(t.name) for t in terms)
        if key in lexer_index:
            return lexer_index[key]
        kept, callbacks = _create_unless(terms, 0, re, False)
        unless: dict[str, dict[str, str]] = {}
        for name, callback in callbacks.items():
            words = {}
            for t in callback.scanner.terminals:
                if not isinstance(t.pattern, PatternStr) or t.pattern.flags:
                    raise Unsupported(f"keyword terminal {t.name} with flags")
                words[str(t.pattern.value)] = str(t.name)
            unless[str(name)] = words
        allowed = {str(t.name) for t in kept} - ignore or {"<END-OF-FILE>"}
        lexer_index[key] = len(lexers)
        lexers.append(([str(t.name) for t in kept], [str(t.pattern.to_regexp()) for t in kept], unless,
                       sorted(allowed)))
        return lexer_index[key]

    state_lexer = [lexer_of(set(states[s]) | ignore) for s in range(n_states)]
    root_lexer = lexer_of(set(terminals_by_name))
    programs = [_programs(names, regexps) for names, regexps, _, _ in lexers]
    data = {
        "format": FORMAT,
        "grammar": grammar,
        "states": states,
        "rules": rules,
        "start_states": {str(k): int(v) for k, v in table.start_states.items()},
        "end_states": {str(k): int(v) for k, v in table.end_states.items()},
        "lexers": lexers,
        "sre": sre_magic(),
        "programs": programs,
        "state_lexer": state_lexer,
        "root_lexer": root_lexer,
        "ignore": sorted(str(n) for n in ignore),
        "terminals": {str(t.name): (str(t.pattern.type), str(t.pattern.value)) for t in conf.terminals},
    }
    marshal.dumps(data)  # plain data only (Lark's names can be `str` subclasses): fails here, not in the cache
    return data


def _rule(rule: Any, maybe_create_child_filter: Any) -> tuple:
    options = rule.options
    name = rule.alias or options.template_source or rule.origin.name
    child_filter = maybe_create_child_filter(rule.expansion, options.keep_all_tokens, False, None)
    kept = None
    if child_filter is not None:
        kept = [(int(i), bool(expand)) for i, expand in child_filter.args[0]]
    return (str(rule.origin.name), len(rule.expansion), str(name), bool(options.expand1 and not rule.alias), kept)


def _programs(names: list[str], regexps: list[str]) -> list | None:
    """Each lexer's regular expression compiled by `re`'s own compiler, as the arguments of `_sre.compile`
    (the call `re.compile` ends with). Compiling the ~35 lexers a small file uses costs ~10 ms at every
    start; creating them from these programs costs ~0.1. The same Python's compiler made them, CPython
    validates a program when it is created, and the engine compiles the text itself when that fails or
    the program is from another `_sre` (`lmp.syntax.lalr._compile`). None when the compiler's internals
    are not what this expects (another Python)."""
    from lmp.syntax.lalr import alternation

    try:
        from re import _compiler, _parser  # type: ignore[attr-defined]

        out = []
        for pattern in (p.pattern for p in alternation(names, regexps)):
            parsed = _parser.parse(pattern, 0)
            code = _compiler._code(parsed, 0)
            groupindex = dict(parsed.state.groupdict)
            indexgroup = [None] * parsed.state.groups
            for k, i in groupindex.items():
                indexgroup[i] = k
            out.append((pattern, int(parsed.state.flags), [int(c) for c in code], parsed.state.groups - 1, groupindex,
                        tuple(indexgroup)))
        marshal.dumps(out)
        return out
    except Exception:  # noqa: BLE001 - the engine compiles the patterns itself
        return None
