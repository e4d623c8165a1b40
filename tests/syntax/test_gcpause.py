"""lmp.syntax.gcpause: the collector paused while long-lived or acyclic structures are built."""

from __future__ import annotations

import gc

from lmp.syntax.gcpause import gc_paused


def test_nested_pauses_resume_once_and_only_if_it_was_running():
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner end does not resume it
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was not running before: stays off
    finally:
        gc.enable()


def test_freeze_after_moves_what_was_built_to_the_oldest_generation():
    # What `lmp check` imports lives as long as the process: young collections need not scan it again.
    # A plain pause leaves what it built young (parse trees and IR die soon).
    with gc_paused(freeze_after=True):
        kept = [[] for _ in range(100)]
    with gc_paused():
        young = [[] for _ in range(100)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(kept[0]) in oldest and id(kept[-1]) in oldest
    assert id(young[0]) not in oldest
