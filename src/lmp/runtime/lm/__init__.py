"""lmp's model layer: the `LM` contract and its implementations (litellm, local model, fake).

Importing this package is cheap: litellm and xllamacpp are imported only when a model is called.
"""

from .base import (
    LM,
    LMAuthError,
    LMBadRequestError,
    LMConnectionError,
    LMError,
    LMRateLimitError,
    LMResponse,
    LMTimeoutError,
    Message,
    ModelType,
)
from .cache import DiskCache, cache_key, default_cache_dir
from .fake import FakeLM
from .history import CallRecord, History, Totals, scrub
from .litellm_lm import LiteLLM
from .local import (
    LocalLM,
    LocalModelInfo,
    LocalModelNotInstalled,
    LocalServer,
    find_local_model,
    local_lm,
    serve_local,
    shared_server,
    stop_shared_server,
)
from .roles import DEFAULT_MODEL, make_lm, resolve_model
from .transcript import flatten_messages


def __getattr__(name: str) -> object:
    # FakeServer pulls in http.server (~35 ms); only tests need it, so load it on first access.
    if name == "FakeServer":
        from .fake_server import FakeServer

        return FakeServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "LM",
    "CallRecord",
    "DiskCache",
    "FakeLM",
    "FakeServer",
    "History",
    "LMAuthError",
    "LMBadRequestError",
    "LMConnectionError",
    "LMError",
    "LMRateLimitError",
    "LMResponse",
    "LMTimeoutError",
    "LiteLLM",
    "LocalLM",
    "LocalModelInfo",
    "LocalModelNotInstalled",
    "LocalServer",
    "Message",
    "ModelType",
    "Totals",
    "cache_key",
    "default_cache_dir",
    "find_local_model",
    "flatten_messages",
    "local_lm",
    "make_lm",
    "resolve_model",
    "scrub",
    "serve_local",
    "shared_server",
    "stop_shared_server",
]
