"""Adapters turn a signature + inputs into messages and a model's text back into typed outputs."""

from __future__ import annotations

from lmp.runtime.adapters.chat import ChatAdapter
from lmp.runtime.adapters.json_adapter import JSONAdapter

ADAPTERS = {"chat": ChatAdapter, "json": JSONAdapter}


def get_adapter(name: str = "chat") -> ChatAdapter | JSONAdapter:
    try:
        return ADAPTERS[name]()
    except KeyError:
        from lmp.runtime.errors import LmpRuntimeError

        raise LmpRuntimeError(f"unknown adapter `{name}`; use one of: {', '.join(ADAPTERS)}") from None


__all__ = ["ADAPTERS", "ChatAdapter", "JSONAdapter", "get_adapter"]
