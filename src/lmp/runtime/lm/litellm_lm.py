"""`LiteLLM`: any provider litellm knows (and any OpenAI-compatible server), with lmp's policies.

Policies live here rather than in litellm so they are visible and testable: lmp does its own retries
(litellm's and the OpenAI client's are turned off, so every attempt is counted), its own fallbacks,
its own cache and history, and maps litellm's exceptions onto lmp's few error classes.

litellm is imported lazily inside the first call: it takes seconds to import and `lmp --help`,
`lmp check` and the language server must not pay for it.
"""

from __future__ import annotations

import atexit
import inspect
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lmp.secrets import register_secret

from . import wiretap
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
    is_retryable,
)
from .cache import DiskCache
from .constrain import (
    CONSTRAINT_FIELDS,
    Constraint,
    default_mode,
    effective_mode,
    is_rejection,
    normalize_kind,
    normalize_mode,
    rejected,
    remember_rejection,
    request_fields,
    server_kind,
    summary,
)
from .history import CallRecord, History, scrub
from .openai_http import (
    HTTPFailure,
    answer_text,
    finish_reason,
    is_context_overflow,
    is_loopback,
    is_openai_compatible,
    post,
    served_name,
    usage_tokens,
)
from .stream_litellm import StreamingLiteLLM
from .tool_calls import (
    NativeToolsRejected,
    default_tool_mode,
    is_tools_rejection,
    normalize_tool_mode,
    parse_tool_calls,
    remember_tools_rejection,
    response_tool_calls,
    tools_rejected,
)
from .transcript import flatten_messages, merge_stop

TRANSPORTS = ("auto", "litellm")

# Call options consumed by lmp itself; never sent to the provider.
LMP_CALL_OPTIONS = ("rollout_id", "cache", "predictor", "tags")

_litellm_lock = threading.Lock()
_litellm_module: Any = None


def import_litellm() -> Any:
    """Import and configure litellm once: no network for the price map, no telemetry, no banners."""
    global _litellm_module
    if _litellm_module is not None:
        return _litellm_module
    with _litellm_lock:
        if _litellm_module is None:
            # Without this litellm fetches its model price map over the network at import time,
            # which hangs for seconds offline; the copy bundled with the package is enough.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_TELEMETRY", "False")
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            litellm.set_verbose = False
            _litellm_module = litellm
            atexit.register(_close_litellm_clients, litellm)
    return _litellm_module


def _close_litellm_clients(litellm: Any) -> None:
    """Close the OpenAI clients litellm keeps per endpoint, so their keep-alive sockets are shut
    cleanly at exit instead of being reported as leaked (`ResourceWarning: unclosed socket`)."""
    try:
        clients = list(litellm.in_memory_llm_clients_cache.cache_dict.values())
    except AttributeError:  # another litellm version: nothing to close that we know of
        return
    for client in clients:
        close = getattr(client, "close", None)
        # Async clients need an event loop to close; lmp calls litellm synchronously, so it makes none.
        if close is None or inspect.iscoroutinefunction(close):
            continue
        try:
            close()
        except Exception:  # noqa: BLE001 - exiting anyway; a client that fails to close is not an error
            pass


# Env var that holds the API key for common providers (used in LMAuthError messages).
_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "cohere": "COHERE_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "azure": "AZURE_API_KEY",
    "xai": "XAI_API_KEY",
}


_MISSING_CREDENTIALS = re.compile(r"missing credentials|api_key client option must be set|no api key", re.I)


def missing_key_variable(model: str) -> str | None:
    """The environment variable a hosted provider's key must be in, when it is not set (litellm knows
    which variable each provider reads). None when the model needs no key or has one. Only names
    ending in _API_KEY count: a missing base URL or cloud project is not a missing key."""
    litellm = import_litellm()
    try:
        env = litellm.validate_environment(model)
    except Exception:  # noqa: BLE001 - a model litellm cannot look up is checked by the first call instead
        return None
    missing = [k for k in env.get("missing_keys") or [] if str(k).endswith("_API_KEY")]
    if env.get("keys_in_environment") or not missing:
        return None
    return str(missing[0])


def provider_of(model: str) -> str:
    if "/" in model:
        return model.split("/", 1)[0]
    if model.startswith(("gpt-", "o1", "o3", "o4", "text-")):
        return "openai"
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith("gemini"):
        return "gemini"
    return "openai"


def key_env_var(model: str) -> str:
    provider = provider_of(model)
    return _KEY_ENV.get(provider, f"{provider.upper().replace('-', '_')}_API_KEY")


def map_error(exc: BaseException, model: str, api_base: str | None, timeout: float | None) -> LMError:
    """Translate a litellm/OpenAI/httpx exception into an lmp error with an actionable message."""
    if isinstance(exc, LMError):
        return exc
    litellm = import_litellm()
    status = getattr(exc, "status_code", None)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    cause = _root_cause(exc)
    if isinstance(exc, litellm.Timeout | TimeoutError) or cause == "timeout":
        kind = "timeout"
    elif isinstance(exc, litellm.RateLimitError) or status == 429:
        kind = "rate_limit"
    elif isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError) or status in (401, 403):
        kind = "auth"
    elif _MISSING_CREDENTIALS.search(detail):
        # The OpenAI client refuses to start without a key and litellm reports that as an HTTP 500,
        # which would be retried as a server failure.
        kind = "auth"
    elif cause == "connection" or (
        isinstance(exc, litellm.APIConnectionError | ConnectionError)
        and not isinstance(exc, litellm.InternalServerError)
    ):
        kind, detail = "connection", _innermost_message(exc)
    elif isinstance(exc, litellm.ContextWindowExceededError):
        kind = "context"
    elif isinstance(exc, litellm.NotFoundError) or status == 404:
        kind = "not_found"
    elif isinstance(exc, litellm.BadRequestError) or (status is not None and 400 <= status < 500):
        kind = "bad_request"
    elif status is not None and status >= 500:
        kind = "server"
    else:
        kind, detail = "other", f"{type(exc).__name__}: {detail}"
    return lm_error(kind, model, api_base, timeout, status, detail)


def http_error(failure: HTTPFailure, model: str, api_base: str | None, timeout: float | None) -> LMError:
    """Translate a failure of the direct OpenAI-compatible path into the same lmp errors."""
    status = failure.status_code
    detail = failure.detail
    if failure.kind in ("timeout", "connection", "protocol"):
        kind = failure.kind
    elif status == 429:
        kind = "rate_limit"
    elif status in (401, 403):
        kind = "auth"
    elif status == 404:
        kind = "not_found"
    elif status is not None and 400 <= status < 500:
        kind = "context" if is_context_overflow(detail) else "bad_request"
    elif status is not None and status >= 500:
        kind = "server"
    else:
        kind = "other"
    error = lm_error(kind, model, api_base, timeout, status, detail)
    if failure.retry_after is not None:
        error.retry_after = failure.retry_after  # type: ignore[attr-defined]
    return error


def lm_error(
    kind: str, model: str, api_base: str | None, timeout: float | None, status: int | None, detail: str
) -> LMError:
    """The lmp error (class and actionable message) for one kind of failure, whatever the transport."""
    detail = scrub(detail)
    if len(detail) > 300:
        detail = detail[:300] + "…"
    where = f" at {api_base}" if api_base else ""
    if kind == "timeout":
        return LMTimeoutError(
            f"Model {model!r}{where} did not answer within {timeout} s. Retry later, raise the timeout "
            "(timeout=... in the model's params), or choose a faster model with --model ROLE=ID.",
            model=model,
            status_code=408,
        )
    if kind == "rate_limit":
        return LMRateLimitError(
            f"Model {model!r}{where} is rate-limiting requests (HTTP 429) and still was after the retries. "
            "Wait and rerun (cached answers are kept), lower --concurrency, or configure fallback models. "
            f"Provider said: {detail}",
            model=model,
            status_code=429,
        )
    if kind == "auth":
        env = key_env_var(model)
        return LMAuthError(
            f"The provider rejected the API key for model {model!r} (HTTP {status or 401}). "
            f"Set a valid key in the environment variable {env} (or pass api_key in the model's params), "
            "or choose another model with --model ROLE=ID (the model id `local` needs no key).",
            model=model,
            status_code=status or 401,
        )
    if kind == "connection":
        if api_base:
            hint = (
                f"Check that the server at {api_base} is running (for the local model: `lmp serve-local`, "
                "or unset LMP_LOCAL_URL to let lmp start it) and that the URL is right"
            )
        else:
            hint = "Check your network connection and the provider's status"
        return LMConnectionError(
            f"Could not connect to the model server for {model!r}{where}. {hint}; or choose another model "
            f"with --model ROLE=ID. Details: {detail.splitlines()[0] if detail else 'connection failed'}",
            model=model,
        )
    if kind == "context":
        return LMBadRequestError(
            f"The prompt is too long for model {model!r}'s context window. Use fewer demos or shorter "
            f"inputs, or a model with a larger context. Details: {detail}",
            model=model,
            status_code=400,
        )
    if kind == "not_found":
        return LMBadRequestError(
            f"Model {model!r}{where} was not found (HTTP 404). Check the model id (litellm form "
            f"`provider/model`) and the api_base. Details: {detail}",
            model=model,
            status_code=404,
        )
    if kind == "bad_request":
        return LMBadRequestError(
            f"Model {model!r}{where} rejected the request (HTTP {status or 400}). Check the model id and "
            f"its params. Details: {detail}",
            model=model,
            status_code=status or 400,
        )
    if kind == "protocol":
        return LMError(
            f"Model server for {model!r}{where} did not give an OpenAI-style answer: {detail}. Check that the "
            "api_base is the server's OpenAI-compatible endpoint (usually ending in /v1) and that nothing "
            "(a proxy, a login page) answers in its place.",
            model=model,
            status_code=status,
        )
    if kind == "server":
        return LMError(
            f"Model server for {model!r}{where} failed with HTTP {status} after all retries. Retry later "
            f"or configure fallback models. Details: {detail}",
            model=model,
            status_code=status,
        )
    return LMError(
        f"Call to model {model!r}{where} failed: {detail}. Rerun with --debug for the full traceback.",
        model=model,
        status_code=status,
    )


_TIMEOUT_NAMES = {
    "APITimeoutError",
    "TimeoutException",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
}
_CONNECT_NAMES = {"APIConnectionError", "ConnectError", "RemoteProtocolError"}


def _root_cause(exc: BaseException) -> str | None:
    """'timeout' or 'connection' when the exception chain holds a transport failure.

    litellm reports an unreachable OpenAI-compatible server as a 500 InternalServerError; only the
    chained httpx/OpenAI exceptions tell the truth, so walk the chain (by class name, to avoid
    importing httpx/openai here).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = {c.__name__ for c in type(current).__mro__}
        if names & _TIMEOUT_NAMES or isinstance(current, TimeoutError):
            return "timeout"
        if names & _CONNECT_NAMES or isinstance(current, ConnectionError):
            return "connection"
        current = current.__cause__ or current.__context__
    return None


def _innermost_message(exc: BaseException) -> str:
    seen: set[int] = set()
    current: BaseException | None = exc
    last = str(exc)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if str(current).strip():
            last = str(current).strip()
        current = current.__cause__ or current.__context__
    return last.splitlines()[0] if last else type(exc).__name__


class LiteLLM(StreamingLiteLLM, LM):
    """A model called through litellm, or straight over HTTP when it is an OpenAI-compatible server.

    `transport`: "auto" (default; `LMP_TRANSPORT` overrides) sends `openai/...` and
    `text-completion-openai/...` models that have an `api_base` over lmp's own keep-alive HTTP client
    (`openai_http`) and everything else through litellm; "litellm" forces litellm for every model
    (e.g. a proxy that needs litellm's provider handling).
    `params` are default request params (temperature, max_tokens, …) merged under per-call params.
    `fallbacks` are model ids (or `LM` objects) tried in order once the primary model has failed
    after its retries. Per-call lmp options (never sent to the provider): `rollout_id` (distinct
    cache entries for sampling), `cache` (False bypasses the cache), `predictor` and `tags`
    (recorded in history).
    """

    def __init__(
        self,
        model: str,
        *,
        model_type: ModelType = "chat",
        api_base: str | None = None,
        api_key: str | None = None,
        params: Mapping[str, Any] | None = None,
        num_retries: int = 3,
        fallbacks: Sequence[str | LM] = (),
        timeout: float = 60,
        cache: DiskCache | None = None,
        history: History | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        name: str | None = None,
        transport: str | None = None,
    ) -> None:
        if model_type not in ("chat", "text"):
            raise ValueError(f"model_type must be 'chat' or 'text', not {model_type!r}")
        transport = transport or os.environ.get("LMP_TRANSPORT") or "auto"
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        self.transport = transport
        self.model = model
        self.model_type = model_type
        self.api_base = api_base
        self._api_key = api_key  # kept private and out of repr/history/cache on purpose
        register_secret(api_key)  # masked wherever a provider echoes it back (lmp.secrets)
        self.params = dict(params or {})
        # lmp's own decoding-constraint settings (see constrain.py), never sent to the provider:
        # `constrain` ("grammar" | "json_schema" | "none") and `server` (the kind of server at api_base).
        self.constrain = normalize_mode(self.params.pop("constrain", None))
        self.server = normalize_kind(self.params.pop("server", None))
        # `vision: true|false`: whether the model takes image inputs, where litellm does not know (runtime/media.py).
        vision = self.params.pop("vision", None)
        self.vision = vision if isinstance(vision, bool) else None
        # How ReAct offers tools (lm/tool_calls.py): "native" | "text" | None (decided by server kind).
        self.tool_calls = normalize_tool_mode(self.params.pop("tool_calls", None))
        self._function_calling: bool | None = None
        self._schema_support: bool | None = None
        self.num_retries = num_retries
        self.fallbacks = list(fallbacks)
        self.timeout = timeout
        self.cache = cache
        self.history = history
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        # The name shown in history/cache (e.g. "local" rather than "openai/smollm2").
        self.name = name or model
        self.stats = {"calls": 0, "attempts": 0, "retries": 0, "fallbacks_used": 0, "cache_hits": 0}
        self._stats_lock = threading.Lock()
        self._credentials_checked: set[str] = set()  # models whose key was found present

    def __repr__(self) -> str:
        return f"LiteLLM(model={self.model!r}, model_type={self.model_type!r}, api_base={self.api_base!r})"

    # -- public -----------------------------------------------------------------------------------

    # -- decoding constraints ---------------------------------------------------------------------

    def server_kind(self) -> str | None:
        """The known kind of server behind this model (None: a hosted provider or an unknown server)."""
        return server_kind(self.model, explicit=self.server)

    def constraint_mode(self, constraint: Constraint) -> str:
        """How `constraint` would be sent: "grammar", "json_schema" or "none". Decided from settings
        alone (never by a probing call); a server that rejected a constraint earlier gets none."""
        if rejected(self.api_base, self.model):
            return "none"
        kind = self.server_kind()
        # Asked of litellm only when it decides: importing litellm takes seconds (lmp preview of a local
        # or chat-adapter program must not pay that)
        hosted = kind is None and constraint.adapter == "json" and not self.constrain and self._hosted_schema()
        mode = self.constrain or default_mode(kind, constraint.adapter, hosted_schema=hosted)
        return effective_mode(mode, kind, constraint)

    def _hosted_schema(self) -> bool:
        """A hosted chat model whose provider litellm knows to accept `response_format` json_schema."""
        if self._schema_support is None:
            supported = False
            if self.model_type == "chat" and not self.api_base:
                try:
                    supported = bool(import_litellm().supports_response_schema(model=self.model))
                except Exception:  # noqa: BLE001 - unknown to litellm: no schema
                    supported = False
            self._schema_support = supported
        return self._schema_support

    def tool_mode(self) -> str:
        """How ReAct offers tools to this model: "native" (`tools` in the body) or "text". Decided
        from settings alone; a server that refused `tools` earlier gets text."""
        if tools_rejected(self.api_base, self.model):
            return "text"
        if self.tool_calls is not None:
            return self.tool_calls
        hosted = False
        if self.server_kind() is None and not self.api_base and self.model_type == "chat":
            if self._function_calling is None:
                try:
                    self._function_calling = bool(import_litellm().supports_function_calling(model=self.model))
                except Exception:  # noqa: BLE001 - unknown to litellm: text
                    self._function_calling = False
            hosted = self._function_calling
        return default_tool_mode(self.server_kind(), chat=self.model_type == "chat", hosted_function_calling=hosted)

    def complete(self, messages: list[Message], **params: Any) -> LMResponse:
        if params.get("tools"):
            try:
                return self._complete(messages, params, None)
            except LMError as exc:
                if exc.status_code not in (400, 422) or not is_tools_rejection(str(exc)):
                    raise
                remember_tools_rejection(self.api_base, self.model, str(exc))
                raise NativeToolsRejected(str(exc), model=self.model, status_code=exc.status_code) from exc
        constraint = params.pop("constraint", None)
        if not isinstance(constraint, Constraint):
            return self._complete(messages, params, None)
        mode = self.constraint_mode(constraint)
        fields = request_fields(constraint, mode, self.server_kind(), strict=True)
        if not fields:
            return self._complete(messages, params, summary(constraint, "none"))
        try:
            return self._complete(messages, {**params, **fields}, summary(constraint, mode))
        except LMError as exc:
            # 400/422 from servers that validate the field; llama.cpp answers an unparsable grammar with 500.
            if exc.status_code not in (400, 422, 500) or not is_rejection(str(exc), fields):
                raise
            # Once per process and endpoint: this call and every later one go unconstrained.
            remember_rejection(self.api_base, self.model, mode, str(exc))
            return self._complete(messages, params, summary(constraint, "none", fallback=True))

    def _complete(self, messages: list[Message], params: dict[str, Any],
                  constraint: dict[str, Any] | None) -> LMResponse:
        params = dict(params)
        rollout_id = params.pop("rollout_id", None)
        use_cache = params.pop("cache", True)
        predictor = params.pop("predictor", None)
        tags = dict(params.pop("tags", None) or {})
        request = {**self.params, **params}
        wiretap.emit(self, messages, request)
        self._bump("calls")

        key = None
        if self.cache is not None and use_cache is not False and self.cache.enabled:
            key = self.cache.key(self.name, messages, {**request, "model_type": self.model_type}, rollout_id)
            hit = self.cache.get(key)
            if hit is not None:
                self._bump("cache_hits")
                self._record(messages, hit, request, predictor, tags, constraint)
                return hit

        if not all(self.uses_http(c) for c in (self.model, *self.fallbacks) if isinstance(c, str)):
            import_litellm()  # outside the timer: the one-time import must not count as call latency
        start = time.perf_counter()
        attempts = 0
        errors: list[LMError] = []
        candidates: list[str | LM] = [self.model, *self.fallbacks]
        for index, candidate in enumerate(candidates):
            try:
                if isinstance(candidate, LM):
                    attempts += 1
                    response = candidate.complete(messages, **request)
                else:
                    response, n = self._with_retries(candidate, messages, request)
                    attempts += n
            except LMError as exc:
                errors.append(exc)
                attempts += getattr(exc, "attempts", 0)
                continue
            if index > 0:
                self._bump("fallbacks_used")
                tags["fallback"] = candidate if isinstance(candidate, str) else candidate.model
            response.latency_s = time.perf_counter() - start
            tags["attempts"] = attempts
            if key is not None and self.cache is not None:
                self.cache.put(key, response)
            self._record(messages, response, request, predictor, tags, constraint)
            return response

        error = errors[0] if len(errors) == 1 else self._combine(errors)
        if self.history is not None:
            tags["attempts"] = attempts
            self.history.add(
                CallRecord(
                    model=self.name,
                    messages=list(messages),
                    error=str(error),
                    latency_s=time.perf_counter() - start,
                    predictor=predictor,
                    params=_shown_params(request),
                    tags=tags,
                    constraint=constraint,
                )
            )
        raise error

    # -- internals --------------------------------------------------------------------------------

    def _bump(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _combine(self, errors: list[LMError]) -> LMError:
        # Keep the primary model's error class (callers branch on it) but say that fallbacks failed too.
        first = errors[0]
        tried = ", ".join(repr(e.model) for e in errors[1:])
        combined = type(first)(
            f"{first} (Fallback models {tried} failed too: {errors[-1]})",
            model=first.model,
            status_code=first.status_code,
        )
        return combined

    def _delay(self, attempt: int, exc: LMError) -> float:
        # Exponential backoff with full jitter (spreads retries of concurrent workers apart).
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            return min(float(retry_after), self.backoff_max)
        base = min(self.backoff_max, self.backoff_base * (2**attempt))
        return base * (0.5 + random.random() / 2)

    def _check_credentials(self, model: str) -> None:
        """A hosted model with no key anywhere fails before any request, naming the variable to set
        (instead of a provider error after every retry). Models with an api_base may need no key."""
        if self._api_key or self.api_base or self.uses_http(model) or self._local_placeholder_key():
            return
        with self._stats_lock:
            known = model in self._credentials_checked
            self._credentials_checked.add(model)
        if known:
            return
        variable = missing_key_variable(model)
        if variable is not None:
            with self._stats_lock:
                self._credentials_checked.discard(model)  # set the variable and the next call goes through
            error = LMAuthError(
                f"Model {model!r} needs an API key and none is set: set the environment variable {variable} "
                f"(export {variable}=...), pass api_key in the model's params, or choose another model with "
                "--model ROLE=ID (the model id `local` needs no key). No request was sent.",
                model=model,
                status_code=401,
            )
            error.attempts = 0  # type: ignore[attr-defined]
            raise error

    def _with_retries(
        self, model: str, messages: list[Message], request: dict[str, Any]
    ) -> tuple[LMResponse, int]:
        self._check_credentials(model)
        attempt = 0
        while True:
            attempt += 1
            self._bump("attempts")
            try:
                return self._call_once(model, messages, request), attempt
            except LMError as exc:
                self._after_failed_attempt(model, exc, attempt)

    def _after_failed_attempt(self, model: str, exc: LMError, attempt: int) -> None:
        """Raise `exc` (or a clearer auth error) when it is final; otherwise wait before the next attempt."""
        if isinstance(exc, LMAuthError) and self.uses_http(model) and not self._http_key():
            exc = LMAuthError(
                f"Model {model!r} at {self.api_base} requires an API key (HTTP {exc.status_code}) and none "
                "was sent: set OPENAI_API_KEY (any OpenAI-compatible server reads it) or pass api_key in "
                "the model's params.",
                model=model,
                status_code=exc.status_code,
            )
        if not is_retryable(exc) or attempt > self.num_retries:
            exc.attempts = attempt  # type: ignore[attr-defined]
            raise exc
        self._bump("retries")
        self._sleep(self._delay(attempt - 1, exc))

    def uses_http(self, model: str | None = None) -> bool:
        """True when calls to `model` (default: the primary) go over lmp's direct HTTP path."""
        return (
            self.transport != "litellm"
            and bool(self.api_base)
            and is_openai_compatible(model or self.model)
        )

    def _call_once(self, model: str, messages: list[Message], request: dict[str, Any]) -> LMResponse:
        if self.uses_http(model):
            return self._call_http(model, messages, request)
        litellm = import_litellm()
        kwargs = self._litellm_kwargs(request)
        try:
            if self.model_type == "text":
                kwargs["stop"] = merge_stop(kwargs.get("stop"))
                raw = litellm.text_completion(model=model, prompt=flatten_messages(messages), **kwargs)
                # The transcript ends with "Assistant:", so the model's first token is usually a
                # space; it is an artifact of the format, not part of the answer.
                text = (raw.choices[0].text or "").lstrip(" ") if raw.choices else ""
            else:
                raw = litellm.completion(model=model, messages=list(messages), **kwargs)
                text = raw.choices[0].message.content if raw.choices else ""
            reason = getattr(raw.choices[0], "finish_reason", None) if raw.choices else None
        except Exception as exc:  # noqa: BLE001 - every provider failure is translated below
            mapped = map_error(exc, model, self.api_base, kwargs.get("timeout"))
            headers = getattr(getattr(exc, "response", None), "headers", None) or {}
            try:
                mapped.retry_after = float(headers.get("retry-after"))  # type: ignore[attr-defined]
            except (TypeError, ValueError):
                pass
            raise mapped from exc
        usage = getattr(raw, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        return LMResponse(
            text=text or "",
            model=self.name if model == self.model else model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=self._cost(raw, model),
            cached=False,
            raw=_to_dict(raw),
            finish_reason=reason if isinstance(reason, str) else None,
            tool_calls=parse_tool_calls(_to_dict(raw.choices[0].message)) if raw.choices and
            self.model_type == "chat" else None,
        )

    def _litellm_kwargs(self, request: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of a litellm call for `request` (client options, key, extra body)."""
        kwargs: dict[str, Any] = dict(request)
        kwargs.setdefault("timeout", self.timeout)
        # lmp owns the retry policy: hidden retries in litellm or the OpenAI client would make
        # attempts uncountable and multiply latency.
        kwargs["num_retries"] = 0
        kwargs["max_retries"] = 0
        if self.api_base:
            kwargs["api_base"] = self.api_base
        # litellm drops body fields it does not know; server-specific constraint fields ride in extra_body.
        extra = {k: kwargs.pop(k) for k in ("grammar", "structured_outputs", "ebnf") if k in kwargs}
        if extra:
            kwargs["extra_body"] = {**(kwargs.get("extra_body") or {}), **extra}
        key = self._api_key or self._local_placeholder_key()
        if key:
            kwargs["api_key"] = key
        return kwargs

    def _call_http(self, model: str, messages: list[Message], request: dict[str, Any]) -> LMResponse:
        assert self.api_base is not None
        served = served_name(model)
        body: dict[str, Any] = {**request, "model": served}  # client options (timeout, ...) stay out: see post()
        timeout = request.get("timeout", self.timeout)
        chat = self.model_type == "chat"
        if chat:
            body["messages"] = list(messages)
            path = "/chat/completions"
        else:
            body["prompt"] = flatten_messages(messages)
            body["stop"] = merge_stop(body.get("stop"))
            path = "/completions"
        try:
            data = post(self.api_base, path, body, api_key=self._http_key(), timeout=timeout)
        except HTTPFailure as failure:
            raise http_error(failure, model, self.api_base, timeout) from failure
        text = answer_text(data, chat=chat)
        if not chat:
            text = text.lstrip(" ")  # as on the litellm path: the space after "Assistant:"
        prompt_tokens, completion_tokens = usage_tokens(data)
        return LMResponse(
            text=text,
            model=self.name if model == self.model else model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=self._http_cost(served, prompt_tokens, completion_tokens),
            cached=False,
            raw=data,
            finish_reason=finish_reason(data),
            tool_calls=response_tool_calls(data) if chat else None,
        )

    def _local_placeholder_key(self) -> str | None:
        """Local OpenAI-compatible servers need no key, but clients send one. A placeholder, never the
        user's OPENAI_API_KEY: a real key must not go to whatever happens to listen on a local port."""
        return "sk-no-key-needed" if self.api_base and is_loopback(self.api_base) else None

    def _http_key(self) -> str | None:
        # A remote OpenAI-compatible endpoint gets OPENAI_API_KEY, as litellm would send it.
        return self._api_key or self._local_placeholder_key() or os.environ.get("OPENAI_API_KEY") or None

    def _http_cost(self, served: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Local servers are free; a remote one serving a model litellm can price is priced.

        Unknown names are remembered, so an unpriced self-hosted model costs one lookup, not one per call.
        """
        if self.api_base and is_loopback(self.api_base) or served in _UNPRICED:
            return 0.0
        try:
            prompt_cost, completion_cost = import_litellm().cost_per_token(
                model=served, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
            return float(prompt_cost + completion_cost)
        except Exception:  # noqa: BLE001 - unknown prices are 0, never an error
            _UNPRICED.add(served)
            return 0.0

    def _cost(self, raw: Any, model: str) -> float:
        if self.api_base and is_loopback(self.api_base):
            return 0.0  # local models are free; litellm would otherwise price them as the hosted id
        try:
            return float(import_litellm().completion_cost(completion_response=raw) or 0.0)
        except Exception:  # noqa: BLE001 - unknown prices are 0, never an error
            return 0.0

    def _record(
        self,
        messages: list[Message],
        response: LMResponse,
        request: dict[str, Any],
        predictor: str | None,
        tags: dict[str, Any],
        constraint: dict[str, Any] | None = None,
    ) -> None:
        if self.history is not None:
            self.history.add(
                CallRecord.from_response(
                    list(messages), response, params=_shown_params(request), predictor=predictor, tags=tags,
                    constraint=constraint,
                )
            )


_UNPRICED: set[str] = set()


def _shown_params(request: dict[str, Any]) -> dict[str, Any]:
    """Params as history records them: a grammar or schema is summarized by the record's `constraint`
    (kind and hash), not repeated in full on every line of history.jsonl."""
    return {k: v for k, v in request.items() if k not in CONSTRAINT_FIELDS}


def _to_dict(raw: Any) -> dict[str, Any] | None:
    try:
        data = raw.model_dump() if hasattr(raw, "model_dump") else dict(raw)
    except Exception:  # noqa: BLE001 - raw is debugging aid only
        return None
    return data if isinstance(data, dict) else None
