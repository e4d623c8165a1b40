"""`POST /modules/{Name}/stream`: a module run as server-sent events (partial typed values, then the result).

    event: partial   data: {"fields": {...module outputs, null until parsed...}, "call": {...},
                            "predictor": "Module.name", "attempt": "first"|"repair"|"json"}
    event: result    data: the module's outputs (the body `POST /modules/{Name}` would answer)
    event: error     data: {"error": KIND, "message": ..., "request_id": ..., "status": 502}
    event: done      data: {"request_id": ..., "tokens": N, "cost": USD}

Everything decided before the run starts answers as the JSON route does, with its status code
(404 unknown module, 422 invalid input, 413 too large, 503 saturated or not ready). Once the
stream has started the status is 200, so a failure of the run (unparsable answer after the repair
ladder, model error, the server's --timeout) is an `error` event with the status the JSON route
would have used. A client that disconnects cancels the run at the model's next chunk; the
concurrency slot is held until the run has really stopped.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from lmp.runtime import settings as rt_settings
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.media import no_local_files
from lmp.runtime.streaming import Partial, StreamCancelled, StreamedRun
from lmp.runtime.values import Prediction, to_plain

ReadInputs = Callable[[Request, str], Awaitable[dict[str, Any]]]


def event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


def partial_payload(p: Partial) -> dict[str, Any]:
    return {"fields": to_plain(dict(p.items())), "call": to_plain(p.call), "predictor": p.predictor,
            "attempt": p.attempt}


def stream_route(server: Any, read_inputs: ReadInputs) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for `server` (an `LmpServer`); `read_inputs` validates a request body
    exactly as the JSON route does (raising its `ServerError`s)."""
    from lmp.deploy.server import ServerError, _error_response, _usage, classify_error

    log = server.log

    def run_sync(run: StreamedRun, usage: Any) -> dict[str, Any]:
        _usage.set(usage)
        with rt_settings.context(**server.run_settings), no_local_files():
            result: Prediction = run.run()
            return result.model_dump()

    async def endpoint(request: Request) -> Response:
        from lmp.deploy.server import Usage

        t0 = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request_id = "".join(c for c in request_id if c.isalnum() or c in "-_.")[:64] or uuid.uuid4().hex[:16]
        name = request.path_params["name"]
        usage = Usage()
        base = {"request_id": request_id, "method": request.method, "path": request.url.path, "module": name,
                "stream": True}
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the loop has stopped: nobody reads any more
                pass

        try:
            inputs = await read_inputs(request, name)
            try:
                # Binding reads Image inputs: a path must not make the server read its own files.
                with no_local_files():
                    run = StreamedRun(server.handle.interpreter, name, inputs, put)
            except LmpRuntimeError as exc:  # an input the runtime refuses (e.g. an Image given as a path)
                raise ServerError(422, "invalid_request", str(exc)) from None
            except Exception as exc:  # noqa: BLE001 - anything else is reported like a failed run
                raise classify_error(exc, name) from None
            if not server._acquire():
                raise ServerError(503, "overloaded", f"the server is running {server.options.concurrency} requests "
                                  "(its --concurrency limit); retry shortly", retry_after=1)
        except ClientDisconnect:
            log("request", **base, status=499, error="client_disconnected")
            return Response(status_code=499)
        except ServerError as exc:
            log("request", level="info" if exc.status < 500 else "warning", **base, status=exc.status,
                error=exc.kind, message=exc.message[:500])
            return _error_response(exc, request_id)
        try:
            cfut = server.pool.submit(contextvars.copy_context().run, run_sync, run, usage)
        except RuntimeError:  # pool shut down: the server is stopping
            server._release()
            return _error_response(ServerError(503, "shutting_down", "the server is shutting down"), request_id)
        cfut.add_done_callback(server._release)
        cfut.add_done_callback(lambda f: put(f))

        async def events() -> AsyncIterator[bytes]:
            status, kind, partials = 200, None, 0
            deadline = loop.time() + server.options.timeout
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(items.get(), max(0.0, deadline - loop.time()))
                    except TimeoutError:
                        run.cancel()
                        error = ServerError(504, "timeout", f"{name} did not finish within the server's timeout "
                                            f"of {server.options.timeout:g} s")
                        status, kind = error.status, error.kind
                        yield event("error", {"error": error.kind, "message": error.message,
                                              "request_id": request_id, "status": error.status})
                        break
                    if isinstance(item, Partial):
                        partials += 1
                        yield event("partial", partial_payload(item))
                        continue
                    exc = item.exception()
                    if exc is None:
                        try:
                            checked = server.responses[name].model_validate(item.result())
                        except ValidationError as verr:
                            exc = ServerError(502, "invalid_output", f"{name} returned outputs that do not match "
                                              f"its declared types: {verr.error_count()} error(s)")
                        else:
                            yield event("result", checked.model_dump(mode="json"))
                            break
                    if isinstance(exc, StreamCancelled):
                        break
                    error = classify_error(exc, name)
                    status, kind = error.status, error.kind
                    if error.kind == "internal_error":
                        log("internal_error", level="error", request_id=request_id, module=name,
                            exception=type(exc).__name__,
                            traceback="".join(traceback.format_exception(exc, limit=20)))
                    body = {"error": error.kind, "message": error.message, "request_id": request_id,
                            "status": error.status}
                    body.update({k: v for k, v in error.extra.items() if k != "retry_after"})
                    yield event("error", body)
                    break
                yield event("done", {"request_id": request_id, "tokens": usage.tokens,
                                     "cost": round(usage.cost, 8)})
            finally:
                run.cancel()  # a client that went away stops the run at the model's next chunk
                fields: dict[str, Any] = {**base, "status": status, "partials": partials,
                                          "latency_ms": round((time.perf_counter() - t0) * 1000, 2),
                                          "in_flight": server.in_flight, **usage.as_log()}
                if kind is not None:
                    fields["error"] = kind
                log("request", level="info" if status < 500 else "warning", **fields)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"x-request-id": request_id, "cache-control": "no-cache",
                                          "x-accel-buffering": "no"})

    return endpoint


PARTIAL_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["fields", "call", "predictor", "attempt"],
    "properties": {"fields": {"type": "object", "description": "the module's outputs, null until parsed"},
                   "call": {"type": "object", "description": "the outputs of the predictor call running now"},
                   "predictor": {"type": ["string", "null"]},
                   "attempt": {"enum": ["first", "repair", "json"]}},
}
DONE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["request_id", "tokens", "cost"],
    "properties": {"request_id": {"type": "string"}, "tokens": {"type": "integer"}, "cost": {"type": "number"}},
}


def _event_schema(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """One server-sent event: its name, and its data as JSON text of the given schema."""
    return {"type": "object", "required": ["event", "data"],
            "properties": {"event": {"const": name},
                           "data": {"type": "string", "contentMediaType": "application/json",
                                    "contentSchema": data}}}


def add_stream_paths(document: dict[str, Any], modules: list[Any]) -> None:
    """Document `POST /modules/{Name}/stream` for each served module in the OpenAPI `document`."""
    paths = document.setdefault("paths", {})
    for mod in modules:
        plain = paths.get(f"/modules/{mod.name}", {}).get("post", {})
        request_body = plain.get("requestBody")
        errors = {code: r for code, r in (plain.get("responses") or {}).items() if code in ("404", "413", "422", "503")}
        paths[f"/modules/{mod.name}/stream"] = {"post": {
            "operationId": f"stream_{mod.name}",
            "summary": f"Run module {mod.name} as server-sent events: partial outputs, then the result",
            "description": (
                "Events: `partial` (data: {fields: the module's outputs, null until parsed; call: the outputs "
                "of the predictor call running now; predictor; attempt}), `result` (data: the same object as "
                f"POST /modules/{mod.name} answers), `error` (data: an Error object with `status`, the status "
                "the JSON route would have used) and `done` (data: {request_id, tokens, cost}). Failures "
                "before the run starts answer with the JSON route's status codes."),
            **({"requestBody": request_body} if request_body else {}),
            "responses": {
                "200": {"description": "an event stream; each event's `data` is JSON (its contentSchema)",
                        "content": {"text/event-stream": {"schema": {"oneOf": [
                            _event_schema("partial", PARTIAL_SCHEMA),
                            _event_schema("result", {"$ref": f"#/components/schemas/{mod.name}Response"}),
                            _event_schema("error", {"$ref": "#/components/schemas/Error"}),
                            _event_schema("done", DONE_SCHEMA),
                        ]}}}},
                **errors,
            },
        }}
