"""`lmp serve`: a program's modules as an HTTP JSON API (Starlette on uvicorn).

    POST /modules/{Name}   body: the module's inputs   -> 200 the module's outputs
    POST /modules/{Name}/stream   same body -> server-sent events: partial outputs, then the result (sse.py)
    GET  /openapi.json     OpenAPI 3.1 document generated from the .lmp types
    GET  /healthz          the process is up
    GET  /readyz           the program is loaded and its models are up (local model server started)

Status codes: 422 body does not match the parameter types (names the field), 404 unknown module,
413 body too large, 500 the program failed (a tool raised, a runtime error), 502 the model failed
(unparsable output, provider or connection error), 503 saturated (`--concurrency`) or not ready,
504 request timeout (`--timeout`) or model timeout. Every error body is
`{"error": KIND, "message": ..., "request_id": ...}`. Nothing a request does can stop the server.

Module runs are blocking (the interpreter calls the model over HTTP), so each runs in a worker
thread of a pool sized to the concurrency limit; a slot is held until its run really ends, even
when the client already got a 504, so the limit bounds the work in flight, not just the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmp.api import ProgramHandle
from lmp.deploy.schema import openapi_document, request_model, response_model, served_modules
from lmp.runtime import settings as rt_settings
from lmp.runtime.errors import LMOutputError, LmpRuntimeError
from lmp.runtime.lm.base import LMAuthError, LMConnectionError, LMError, LMRateLimitError, LMTimeoutError
from lmp.runtime.lm.cache import CacheUnavailable
from lmp.runtime.lm.history import CallRecord, History, Totals
from lmp.runtime.media import no_local_files, served_image_errors
from lmp.secrets import install_log_scrubbing, scrub, scrub_data

# ------------------------------------------------------------------ per-request usage


@dataclass
class Usage(Totals):
    """One request's model calls: the history's totals, plus which models answered."""

    models: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, r: CallRecord) -> None:
        with self.lock:
            super().add(r)
            self.models.add(r.model)

    def as_log(self) -> dict[str, Any]:
        return {"model_calls": self.calls, "cached_calls": self.cached, "model_errors": self.errors,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "tokens": self.tokens, "cost": round(self.cost, 8),
                "model_latency_ms": round(self.latency_s * 1000, 1), "models": sorted(self.models)}


_usage: contextvars.ContextVar[Usage | None] = contextvars.ContextVar("lmp_serve_usage", default=None)


class MeteringHistory(History):
    """The server's call history. Every LM appends one `CallRecord` per call (in the calling
    thread), so adding the record to the current request's `Usage` gives per-request tokens and
    cost without wrapping the LM objects (the runtime looks at their concrete types)."""

    def add(self, record: CallRecord) -> CallRecord:
        usage = _usage.get()
        if usage is not None:
            usage.add(record)
        return super().add(record)

    def __bool__(self) -> bool:
        # Workaround: `History` defines __len__, so an empty one is falsy, and the runtime's
        # `settings.history or _DEFAULT_HISTORY` would silently swap in the process default.
        return True


# ------------------------------------------------------------------ structured logs


class JsonLog:
    """One JSON object per line (ts, level, event, ...). Never logs inputs, outputs or keys."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        record = scrub_data({"ts": round(time.time(), 3), "level": level, "event": event, **fields})
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed log stream must not take a request down


# ------------------------------------------------------------------ the app


@dataclass
class ServeOptions:
    concurrency: int = 8  # module runs in flight; more get 503
    timeout: float = 60.0  # seconds per request; then 504
    max_body_bytes: int = 1 << 20
    cache: bool = True
    history_path: str | None = None  # mirror every model call to this JSONL file


class ServerError(Exception):
    def __init__(self, status: int, kind: str, message: str, **extra: Any) -> None:
        # The body and the log quote provider errors and model answers: never a key (lmp.secrets).
        message = scrub(message)
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.extra = scrub_data(extra)


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors(include_url=False):
        loc = [p for p in e.get("loc", ())]
        name = ".".join(str(p) for p in loc) or "(body)"
        msg = e.get("msg", "invalid")
        if e.get("type") == "missing":
            msg = "required field is missing"
        elif e.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append({"field": name, "loc": loc, "message": msg, "type": e.get("type", "")})
    return out


def _model_ids(handle: ProgramHandle) -> dict[str, str]:
    """role -> model id for every role the program's predictors use, plus `default`."""
    roles = {"default", *handle.program.models}
    for mod in handle.program.modules.values():
        for p in mod.predictors:
            roles.add(p.model_role or "default")
    out = {}
    for role in sorted(roles):
        model_id, _ = rt_settings.model_for(handle.program, role)
        out[role] = model_id
    return out


class LmpServer:
    """The served program: state shared by the routes (limits, readiness, logs)."""

    def __init__(self, handle: ProgramHandle, options: ServeOptions | None = None, *,
                 log: JsonLog | None = None, history: History | None = None,
                 warmup: Callable[[], None] | None = None) -> None:
        install_log_scrubbing()  # uvicorn's and the libraries' log lines too, not only ours
        self.handle = handle
        self.options = options or ServeOptions()
        self.log = log or JsonLog()
        self.history = history or MeteringHistory(self.options.history_path, max_records=1000)
        # Settings every run sees on top of the process-wide ones: the server's history (for
        # metering) and the cache choice.
        self.run_settings = {"history": self.history, "cache": self.options.cache}
        self.modules = {m.name: m for m in served_modules(handle.program)}
        self.requests = {n: request_model(m) for n, m in self.modules.items()}
        self.responses = {n: response_model(m) for n, m in self.modules.items()}
        self.openapi = openapi_document(handle.program, title=f"lmp: {os.path.basename(handle.path)}",
                                        version=_version())
        from lmp.deploy.sse import add_stream_paths

        add_stream_paths(self.openapi, list(self.modules.values()))
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.options.concurrency),
                                       thread_name_prefix="lmp-serve")
        self.in_flight = 0
        self._slots = threading.Lock()
        self.ready = False
        self.not_ready_reason = "starting"
        self.warmup = warmup
        self.draining = False
        # Set (on the event loop) when the drain timeout passes: runs still in flight are answered then.
        self.drain_expired: asyncio.Future[None] | None = None
        self.drain_timeout: float | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- draining ----------------------------------------------------------------------------------

    def begin_drain(self, timeout: float) -> None:
        """From a signal handler or any thread: stop taking work; at `timeout`, answer what is left."""
        self.draining = True
        self.drain_timeout = timeout
        loop = self.loop
        if loop is None or loop.is_closed():
            return

        def arm() -> None:
            expired = self.drain_expired
            if expired is not None and not expired.done():
                loop.call_later(timeout, lambda: expired.done() or expired.set_result(None))

        loop.call_soon_threadsafe(arm)

    # -- readiness ---------------------------------------------------------------------------------

    def start_warmup(self) -> None:
        """Start the local model server (if a role uses `local`) in the background; ready after."""

        def run() -> None:
            t0 = time.perf_counter()
            try:
                if self.warmup is not None:
                    self.warmup()
                else:
                    warm_models(self.handle, self.run_settings, self.log)
            except Exception as exc:  # noqa: BLE001 - reported by /readyz and the log
                reason = str(exc) if isinstance(exc, CacheUnavailable) else f"model warm-up failed: {exc}"
                self.not_ready_reason = scrub(reason)  # shown by /readyz to anyone who asks
                self.log("not_ready", level="error", reason=self.not_ready_reason)
                return
            self.ready = True
            self.not_ready_reason = ""
            self.log("ready", warmup_s=round(time.perf_counter() - t0, 3))

        threading.Thread(target=run, name="lmp-serve-warmup", daemon=True).start()

    # -- slots -------------------------------------------------------------------------------------

    def _acquire(self) -> bool:
        with self._slots:
            if self.in_flight >= self.options.concurrency:
                return False
            self.in_flight += 1
            return True

    def _release(self, *_: Any) -> None:
        with self._slots:
            self.in_flight -= 1

    # -- one run -----------------------------------------------------------------------------------

    def _run_sync(self, module: str, inputs: dict[str, Any], usage: Usage) -> dict[str, Any]:
        _usage.set(usage)
        # no_local_files: an Image input given as a path would make the server send its own files.
        with rt_settings.context(**self.run_settings), no_local_files():
            return self.handle.interpreter.run(module, inputs).model_dump()

    async def run_module(self, module: str, inputs: dict[str, Any], usage: Usage) -> dict[str, Any]:
        if not self._acquire():
            raise ServerError(503, "overloaded", f"the server is running {self.options.concurrency} requests "
                              "(its --concurrency limit); retry shortly", retry_after=1)
        ctx = contextvars.copy_context()
        try:
            cfut = self.pool.submit(ctx.run, self._run_sync, module, inputs, usage)
        except RuntimeError:  # pool shut down: the server is stopping
            self._release()
            raise ServerError(503, "shutting_down", "the server is shutting down") from None
        cfut.add_done_callback(self._release)  # the slot is freed when the run really ends
        fut = asyncio.wrap_future(cfut)
        waits: set[asyncio.Future[Any]] = {fut}
        if self.drain_expired is not None:
            waits.add(self.drain_expired)
        done, _ = await asyncio.wait(waits, timeout=self.options.timeout, return_when=asyncio.FIRST_COMPLETED)
        if fut in done:
            return fut.result()
        if self.drain_expired is not None and self.drain_expired in done:
            raise ServerError(503, "shutting_down", f"the server is shutting down and its drain timeout of "
                              f"{self.drain_timeout:g} s passed before {module} finished; retry on another "
                              "instance", retry_after=1)
        raise ServerError(504, "timeout", f"{module} did not finish within the server's timeout of "
                          f"{self.options.timeout:g} s")


def _version() -> str:
    from lmp import __version__

    return __version__


def warm_models(handle: ProgramHandle, run_settings: dict[str, Any], log: JsonLog | None = None) -> None:
    """Open the response cache (a corrupt file is moved aside with a warning; one that cannot be
    opened at all keeps the server unready), then start the embedded local model's server if a role
    resolves to it (and no LMP_LOCAL_URL)."""
    with rt_settings.context(**run_settings):
        cache = rt_settings.response_cache()
        ids = _model_ids(handle)
    if cache is not None and cache.moved_aside is not None and log is not None:
        log("cache_moved_aside", level="warning", path=str(cache.path), moved_to=str(cache.moved_aside))
    if any(m in ("local", "local-text") for m in ids.values()) and not os.environ.get("LMP_LOCAL_URL"):
        from lmp.runtime.lm.local import shared_server

        shared_server()


def _error_response(exc: ServerError, request_id: str) -> JSONResponse:
    body = {"error": exc.kind, "message": exc.message, "request_id": request_id}
    headers = {"x-request-id": request_id}
    for k, v in exc.extra.items():
        if k == "retry_after":
            headers["retry-after"] = str(v)
        else:
            body[k] = v
    return JSONResponse(body, status_code=exc.status, headers=headers)


def classify_error(exc: BaseException, module: str) -> ServerError:
    """Map a failure of a module run to a status and a clear body (no tracebacks, no keys)."""
    if isinstance(exc, ServerError):
        return exc
    if isinstance(exc, LMOutputError):
        raw = exc.raw_output if len(exc.raw_output) <= 300 else exc.raw_output[:300] + "…"
        return ServerError(502, "bad_model_output",
                           f"the model's answer could not be parsed into {exc.expected_type}"
                           + (f" for field `{exc.field}`" if exc.field else "") + f": {exc.message}",
                           field=exc.field, expected_type=exc.expected_type, raw_output=raw)
    if isinstance(exc, LMTimeoutError):
        return ServerError(504, "model_timeout", str(exc))
    if isinstance(exc, LMAuthError):
        return ServerError(502, "model_auth_error", str(exc))
    if isinstance(exc, LMRateLimitError):
        return ServerError(502, "model_rate_limited", str(exc))
    if isinstance(exc, LMConnectionError):
        return ServerError(502, "model_unreachable", str(exc))
    if isinstance(exc, LMError):
        return ServerError(502, "model_error", str(exc))
    if isinstance(exc, LmpRuntimeError):
        return ServerError(500, "program_error", str(exc))
    return ServerError(500, "internal_error", f"{module} failed with {type(exc).__name__}; see the server log")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read no further than `limit` bytes: a chunked body has no Content-Length to refuse
    up front, and reading it whole first let one request fill the memory (300 MB read for a 1 MB limit)."""
    too_large = ServerError(413, "body_too_large", f"the body exceeds {limit} bytes (the server's --max-body)")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(server: LmpServer) -> Starlette:
    log = server.log

    async def run_route(request: Request) -> Response:
        t0 = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request_id = "".join(c for c in request_id if c.isalnum() or c in "-_.")[:64] or uuid.uuid4().hex[:16]
        name = request.path_params["name"]
        usage = Usage()
        status = 200
        error: ServerError | None = None
        try:
            result = await _handle(request, name, usage)
            headers = {"x-request-id": request_id,
                       "x-lmp-tokens": str(usage.tokens),
                       "x-lmp-cost": f"{usage.cost:.8f}"}
            response: Response = JSONResponse(result, headers=headers)
        except ClientDisconnect:
            # Nobody is left to answer; one log line, no traceback (not a server fault).
            error = ServerError(499, "client_disconnected", "the client closed the connection before its body "
                                "was read")
            status = error.status
            response = Response(status_code=499)
        except Exception as exc:  # noqa: BLE001 - the server never dies on a request
            error = classify_error(exc, name)
            status = error.status
            if status == 500 and error.kind == "internal_error":
                log("internal_error", level="error", request_id=request_id, module=name,
                    exception=type(exc).__name__, traceback=traceback.format_exc(limit=20))
            response = _error_response(error, request_id)
        fields: dict[str, Any] = {"request_id": request_id, "method": request.method, "path": request.url.path,
                                  "module": name, "status": status,
                                  "latency_ms": round((time.perf_counter() - t0) * 1000, 2),
                                  "in_flight": server.in_flight, **usage.as_log()}
        if error is not None:
            fields["error"] = error.kind
            if error.kind == "bad_model_output":
                # The parse message quotes the model's answer: content, not for the log.
                fields["message"] = (f"unparsable model output for field {error.extra.get('field')} "
                                     f"({error.extra.get('expected_type')})")
            else:
                fields["message"] = error.message[:500]
        log("request", level="info" if status < 500 else "warning", **fields)
        return response

    async def _handle(request: Request, name: str, usage: Usage) -> dict[str, Any]:
        inputs = await read_inputs(request, name)
        outputs = await server.run_module(name, inputs, usage)
        try:
            checked = server.responses[name].model_validate(outputs)
        except ValidationError as exc:
            errs = _field_errors(exc)
            names = ", ".join(f"`{e['field']}` ({e['message']})" for e in errs[:5])
            raise ServerError(502, "invalid_output", f"{name} returned outputs that do not match its declared "
                              f"types: {names}", fields=errs) from None
        return checked.model_dump(mode="json")

    async def read_inputs(request: Request, name: str) -> dict[str, Any]:
        """The validated inputs of a request to module `name` (shared by the JSON and the SSE route)."""
        if name not in server.modules:
            raise ServerError(404, "unknown_module", f"no module `{name}`; modules: {', '.join(server.modules)}")
        if not server.ready:
            raise ServerError(503, "not_ready", f"the server is not ready: {server.not_ready_reason}",
                              retry_after=1)
        body = await read_body(request, server.options.max_body_bytes)
        model: type[BaseModel] = server.requests[name]
        try:
            parsed = model.model_validate_json(body or b"")
        except ValidationError as exc:
            errs = _field_errors(exc)
            if any(e["type"] == "json_invalid" for e in errs):
                raise ServerError(422, "invalid_json", "the body is not valid JSON; send a JSON object "
                                  f"with the inputs of {name}", fields=errs) from None
            names = ", ".join(f"`{e['field']}` ({e['message']})" for e in errs[:5])
            raise ServerError(422, "invalid_request", f"invalid input for {name}: {names}", fields=errs) from None
        inputs = parsed.model_dump(exclude_unset=True)
        errs = served_image_errors(server.modules[name], inputs)
        if errs:  # a path, or text that is no image: the client's mistake, before any model call
            names = ", ".join(f"`{e['field']}` ({e['message']})" for e in errs[:5])
            raise ServerError(422, "invalid_request", f"invalid input for {name}: {names}", fields=errs)
        return inputs

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if server.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if not server.ready:
            return JSONResponse({"status": "not_ready", "reason": server.not_ready_reason}, status_code=503)
        return JSONResponse({"status": "ready", "in_flight": server.in_flight,
                             "concurrency": server.options.concurrency, "modules": list(server.modules)})

    async def openapi(request: Request) -> Response:
        return JSONResponse(server.openapi)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": kind, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=dict(exc.headers or {}))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log("startup", program=server.handle.path, modules=list(server.modules),
            concurrency=server.options.concurrency, timeout_s=server.options.timeout,
            models=_model_roles_for_log(server))
        server.loop = asyncio.get_running_loop()
        server.drain_expired = server.loop.create_future()
        server.start_warmup()
        yield
        server.draining = True
        server.pool.shutdown(wait=False, cancel_futures=True)
        log("shutdown", in_flight=server.in_flight)

    from lmp.deploy.sse import stream_route  # here: sse.py imports this module

    routes = [
        Route("/modules/{name}", run_route, methods=["POST"]),
        Route("/modules/{name}/stream", stream_route(server, read_inputs), methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})


def _model_roles_for_log(server: LmpServer) -> dict[str, str]:
    try:
        with rt_settings.context(history=server.history):
            return _model_ids(server.handle)
    except Exception:  # noqa: BLE001 - only informative
        return {}


# ------------------------------------------------------------------ running it


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # uvicorn's h11 protocol writes headers and body separately; without TCP_NODELAY (inherited by
    # accepted sockets on Linux) Nagle + delayed ACK add ~40 ms to every keep-alive response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def make_uvicorn(app: Starlette, drain_timeout: float, on_signal: Callable[[], None] | None = None) -> Any:
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its graceful shutdown, so the process would die "by signal"
        (exit -15) after draining; lmp exits 0 once every in-flight request got its answer."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            if on_signal is not None and not self.should_exit:
                on_signal()
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                            timeout_graceful_shutdown=drain_timeout, timeout_keep_alive=5)
    return Server(config)


def serve(server: LmpServer, host: str, port: int, *, drain_timeout: float | None = None,
          on_listen: Callable[[str], None] | None = None) -> int:
    """Run in the foreground until SIGINT/SIGTERM; in-flight requests are drained first."""
    sock = bind_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    if on_listen:
        on_listen(url)
    server.log("listening", url=url)
    drain = drain_timeout if drain_timeout is not None else server.options.timeout + 5

    def draining() -> None:
        server.begin_drain(drain)
        server.log("draining", in_flight=server.in_flight, drain_timeout_s=drain)

    # uvicorn's own deadline comes a little later, so the runs still in flight at `drain` get their
    # `shutting_down` answer (and log line) before uvicorn cancels what is left.
    uv = make_uvicorn(build_app(server), drain + DRAIN_ANSWER_S, on_signal=draining)
    uv.run(sockets=[sock])
    return finish(server)


DRAIN_ANSWER_S = 0.5  # time to write the `shutting_down` answers after the drain timeout


def finish(server: LmpServer) -> int:
    """Exit status once uvicorn stopped. A model call cannot be interrupted, and the interpreter would
    wait for the worker threads still inside one at exit; those runs were already answered, so the
    process ends now (a deployment's stop timeout must not be what ends it)."""
    if server.in_flight:
        server.log("exit", level="warning", abandoned_runs=server.in_flight,
                   message="runs still waiting for the model were answered `shutting_down` and are abandoned")
        with contextlib.suppress(Exception):
            sys.stderr.flush()
            sys.stdout.flush()
        os._exit(0)
    return 0


class BackgroundServer:
    """The server on a loopback port in a daemon thread (tests, benchmarks, notebooks).

        with BackgroundServer(LmpServer(handle)) as bg:
            httpx.post(bg.url + "/modules/Classify", json={...})
    """

    def __init__(self, server: LmpServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = server
        self.sock = bind_socket(host, port)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        self.uv = make_uvicorn(build_app(server), drain_timeout=server.options.timeout + 5)
        self.thread = threading.Thread(target=self.uv.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.uv.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the lmp server did not start")
            time.sleep(0.01)
        while wait_ready and not self.server.ready:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the lmp server is not ready: {self.server.not_ready_reason}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.uv.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
