"""Retrievers: `retriever docs = bm25("docs/*.md")` or a Python callable `"pkg.mod:search"`.

The protocol for Python retrievers (vector stores, web search, ...): a callable
`search(query: str, k: int) -> list[str]`; items may also be dicts with a `text` (or `content`)
key or objects with a `.text` attribute, which are reduced to their text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from lmp.runtime.retrievers.bm25 import BM25, bm25_from_source


class Retriever(Protocol):
    def __call__(self, query: str, k: int = 3) -> list[Any]: ...


def passages(items: Any) -> list[str]:
    """Normalize a retriever's answer to a list of passage strings."""
    out: list[str] = []
    for item in items or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            text = item.get("text", item.get("content", item.get("long_text")))
            out.append(str(text) if text is not None else str(item))
        elif hasattr(item, "text"):
            out.append(str(item.text))
        else:
            out.append(str(item))
    return out


def as_retriever(fn: Callable[..., Any]) -> Callable[[str, int], list[str]]:
    def call(query: str, k: int = 3) -> list[str]:
        return passages(fn(query, k=k))

    return call


__all__ = ["BM25", "Retriever", "as_retriever", "bm25_from_source", "passages"]
