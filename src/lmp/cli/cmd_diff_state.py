"""`lmp diff-state a.json b.json`: what changed between two state files, in human terms."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff-state", help="show what changed between two state files (instructions, demos, scores)",
                       description="Compare two optimizer state files: program, optimizer, scores, and per "
                       "predictor the instructions (as a diff) and the demos added and removed.")
    p.add_argument("a", help="the old state file")
    p.add_argument("b", help="the new state file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lmp.optimize.diff import diff_states
    from lmp.optimize.state import load_state

    a, b = load_state(args.a), load_state(args.b)
    text = diff_states(a, b, args.a, args.b)
    print(text)
    return 0
