"""Checks for the media types: a model writes neither an `Image` nor a `History`, so neither is a
signature output; a module may return a History (the conversation extended by this turn, for the
caller's next call) but not an Image (module outputs are JSON). The built-in `image(source)` takes
text (a path, an http(s) URL or a data: URI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmp.ir import nodes as ir
from lmp.ir.types import IMAGE, STR, Type, contains_media, is_assignable

if TYPE_CHECKING:
    from lmp.checker.checker import Checker, Scope


def check_media_outputs(ck: Checker) -> None:
    """E024 for a signature output holding an Image or a History, or a module output holding an Image."""
    prog = ck.program
    sigs = [s for s in prog.signatures.values() if s.path in (None, prog.path)]
    for mod in prog.modules.values():
        if mod.path not in (None, prog.path):
            continue
        sigs += [p.signature for p in mod.predictors if p.signature is not None and p.signature.inline]
        for f in mod.outputs:
            if contains_media(f.type, history=False):
                _report(ck, f, f"module `{mod.name}`", "module outputs are JSON values; return a description "
                        "or the image's source (a path or URL) as `str`")
    for sig in sigs:
        for f in sig.outputs:
            if contains_media(f.type):
                _report(ck, f, f"signature `{sig.name}`", "a model answers in text: describe the image in a `str` "
                        "output; a History is an input (the module can return the extended conversation)")


def _report(ck: Checker, f: ir.Field, owner: str, hint: str) -> None:
    ck.report("E024", f"output `{f.name}` of {owner} is `{f.type.render()}`, which a model cannot write; "
              "Image and History are inputs", f.type_span if f.type_span.end else f.span, hint=hint)


def check_image_call(ck: Checker, e: ir.Call, scope: Scope) -> Type:
    for k in e.kwargs:
        ck.expr(k.value, scope)
        ck.report("E092", f"`image` has no argument `{k.name}`", k.span)
    types = [ck.expr(a, scope) for a in e.args]
    if len(e.args) != 1:
        ck.report("E092", f"`image` takes 1 argument, got {len(e.args)}", e.span,
                  hint='image(source): a path, an http(s) URL or a data: URI, e.g. image("photos/cat.png")')
    elif not is_assignable(types[0], STR) and types[0] != IMAGE:
        ck.report("E092", f"`image` takes text (a path, URL or data: URI), not `{types[0].render()}`", e.args[0].span)
    return IMAGE
