"""A direct HTTP path to OpenAI-compatible servers (the local model, vLLM, llama.cpp, Ollama, proxies).

Why not litellm for these: litellm spends ~10 ms of CPU per call building an OpenAI client, pricing
the response and updating metadata, and its import costs seconds. For a server that already speaks
the OpenAI wire format, one keep-alive `httpx.Client` per endpoint does the same request in well under
a millisecond, and `lmp run` against the local model never imports litellm at all. Hosted providers
(no `api_base`) keep going through litellm, which knows their quirks and prices.

This module only moves JSON over HTTP and says what went wrong; the retry, fallback, cache and error
message policies stay in `litellm_lm.LiteLLM`.
"""

from __future__ import annotations

import atexit
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

# Model-id prefixes (litellm's spelling) that mean "an OpenAI-compatible endpoint".
CHAT_PREFIX = "openai/"
TEXT_PREFIX = "text-completion-openai/"

# Request keys that configure the client, never sent in the body.
_CLIENT_KEYS = frozenset(
    {"timeout", "num_retries", "max_retries", "api_base", "base_url", "api_key", "model_type", "drop_params"}
)

# Threads share one pool per endpoint; 64 matches the runtime's worker pool for async calls.
_POOL_SIZE = 64
_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


def is_openai_compatible(model: str) -> bool:
    return model.startswith((CHAT_PREFIX, TEXT_PREFIX))


def served_name(model: str) -> str:
    """The model name the server knows: the id without litellm's provider prefix."""
    for prefix in (TEXT_PREFIX, CHAT_PREFIX):
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


@dataclass
class HTTPFailure(Exception):
    """What went wrong, in the terms `LiteLLM` turns into an lmp error.

    kind: "timeout" | "connection" | "status" | "protocol"
    """

    kind: str
    detail: str
    status_code: int | None = None
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.detail


def _client(api_base: str) -> httpx.Client:
    client = _clients.get(api_base)
    if client is None:
        import httpx  # here, not at module level: `lmp check` and the language server never call a model

        with _clients_lock:
            client = _clients.get(api_base)
            if client is None:
                limits = httpx.Limits(max_connections=_POOL_SIZE, max_keepalive_connections=_POOL_SIZE,
                                      keepalive_expiry=30)
                # No env proxies for loopback servers: an HTTP(S)_PROXY meant for the internet must not
                # swallow calls to 127.0.0.1. Remote endpoints honour the environment like litellm does.
                client = httpx.Client(limits=limits, trust_env=not is_loopback(api_base))
                _clients[api_base] = client
    return client


def close_clients() -> None:
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


# Pooled keep-alive sockets are closed cleanly at exit rather than left to the garbage collector.
atexit.register(close_clients)


def post(
    api_base: str,
    path: str,
    body: dict[str, Any],
    *,
    api_key: str | None,
    timeout: float | None,
) -> dict[str, Any]:
    """POST `body` as JSON to `api_base + path`; the decoded JSON answer, or `HTTPFailure`."""
    import httpx
    url = api_base.rstrip("/") + path
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    payload = {k: v for k, v in body.items() if k not in _CLIENT_KEYS and v is not None}
    try:
        response = _client(api_base).post(url, content=json.dumps(payload), headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise HTTPFailure("timeout", f"{type(exc).__name__}: {exc}") from exc
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.NetworkError) as exc:
        raise HTTPFailure("connection", f"{type(exc).__name__}: {exc or 'connection failed'}") from exc
    if response.status_code >= 400:
        raise HTTPFailure(
            "status",
            _error_detail(response),
            status_code=response.status_code,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    try:
        data = response.json()
    except ValueError:
        # 502 (bad gateway) classes it as a server-side failure for the retries; the message keeps the
        # status the server really sent.
        raise HTTPFailure(
            "protocol", f"HTTP {response.status_code} with a body that is not JSON: {response.text[:200]!r}",
            status_code=502,
        ) from None
    if not isinstance(data, dict):
        raise HTTPFailure("protocol", f"HTTP {response.status_code} with JSON that is not an object: "
                          f"{str(data)[:200]!r}", 502)
    return data


def post_stream(
    api_base: str,
    path: str,
    body: dict[str, Any],
    *,
    api_key: str | None,
    timeout: float | None,
) -> Iterator[dict[str, Any]]:
    """POST `body` with `stream: true`; the JSON payloads of the server-sent events as they arrive.

    A server that ignores `stream` and answers with one JSON object yields that object once (the
    caller reads `message` as well as `delta`). Failures are `HTTPFailure`, as for `post`; closing the
    generator closes the response."""
    import httpx

    from .stream import sse_events

    url = api_base.rstrip("/") + path
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    payload = {k: v for k, v in body.items() if k not in _CLIENT_KEYS and v is not None}
    payload["stream"] = True
    try:
        with _client(api_base).stream("POST", url, content=json.dumps(payload), headers=headers,
                                      timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise HTTPFailure("status", _error_detail(response), status_code=response.status_code,
                                  retry_after=_retry_after(response.headers.get("retry-after")))
            if "text/event-stream" not in response.headers.get("content-type", ""):
                response.read()
                try:
                    data = response.json()
                except ValueError:
                    raise HTTPFailure("protocol", f"HTTP {response.status_code} with a body that is neither an "
                                      f"event stream nor JSON: {response.text[:200]!r}", 502) from None
                if isinstance(data, dict):
                    yield data
                return
            try:
                yield from sse_events(response.iter_lines())
            except ValueError as exc:
                raise HTTPFailure("protocol", str(exc), 502) from None
    except httpx.TimeoutException as exc:
        raise HTTPFailure("timeout", f"{type(exc).__name__}: {exc}") from exc
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.NetworkError) as exc:
        raise HTTPFailure("connection", f"{type(exc).__name__}: {exc or 'connection failed'}") from exc


def answer_text(data: dict[str, Any], *, chat: bool) -> str:
    """The first choice's text (chat: message.content; text: text)."""
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    first = choices[0]
    if chat:
        message = first.get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) else ""
    text = first.get("text")
    return text if isinstance(text, str) else ""


def finish_reason(data: dict[str, Any]) -> str | None:
    """The first choice's finish_reason ("stop", "length", ...), or None when the server gives none."""
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return None
    reason = choices[0].get("finish_reason")
    return reason if isinstance(reason, str) else None


def usage_tokens(data: dict[str, Any]) -> tuple[int, int]:
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def is_context_overflow(detail: str) -> bool:
    """OpenAI says context_length_exceeded; llama.cpp and vLLM say it in words."""
    text = detail.lower()
    return any(s in text for s in ("context_length_exceeded", "context length", "context size", "context window"))


def _error_detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = error.get("message") or error.get("code") or json.dumps(error)[:300]
        code = error.get("code")
        return f"HTTP {response.status_code}: {message}" + (f" ({code})" if code and code != message else "")
    if isinstance(error, str):
        return f"HTTP {response.status_code}: {error}"
    return f"HTTP {response.status_code}: {json.dumps(data)[:300]}"


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def is_loopback(url: str) -> bool:
    return any(h in url for h in ("://127.", "://localhost", "://[::1]", "://0.0.0.0"))
