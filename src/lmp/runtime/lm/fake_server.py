"""A loopback OpenAI-compatible HTTP server with scripted behaviour, for tests that must cross
litellm and real HTTP (retries on 429/5xx, timeouts, garbage output, concurrency).

    with FakeServer(responder=lambda req: "hello", fail_first=2, fail_status=429) as srv:
        lm = LiteLLM("openai/fake", api_base=srv.url)

Stdlib only (ThreadingHTTPServer in a daemon thread on 127.0.0.1, port 0 = a free port), so it starts
in milliseconds and never touches the network.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .stream import split_tokens

# An answer is text, or a dict {"content": str | None, "tool_calls": [{"name", "arguments", "id"?}]}
# for a native tool-calling turn (arguments a dict or JSON text).
Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]
# Body fields that carry a decoding constraint (llama.cpp, OpenAI/Ollama, vLLM, SGLang).
CONSTRAINT_KEYS = ("grammar", "response_format", "structured_outputs", "ebnf")


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]  # names lower-cased
    time: float = field(default_factory=time.time)


def _last_user_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        for m in reversed(body["messages"]):
            if m.get("role") == "user":
                content = m.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def content_problem(body: dict[str, Any], vision: bool = True) -> str | None:
    """Why a chat body's content parts would be refused (a text-only model given an image, a part of
    an unknown type, an image URL that is neither http(s) nor a base64 data: URI), or None."""
    import base64
    import binascii

    for i, m in enumerate(body.get("messages") or []):
        content = m.get("content") if isinstance(m, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind != "image_url":
                return f"messages[{i}]: unknown content part {str(part)[:60]}"
            if not vision:
                return "this model does not support image input"
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
            if not isinstance(url, str):
                return f"messages[{i}]: image_url needs a url"
            if url.startswith("data:"):
                head, _, data = url.partition(",")
                try:
                    base64.b64decode(data, validate=True)
                except (binascii.Error, ValueError):
                    return f"messages[{i}]: invalid base64 image data"
                if not head.startswith("data:image/") or not head.endswith(";base64"):
                    return f"messages[{i}]: image data URI must be data:image/...;base64"
            elif not url.startswith(("http://", "https://")):
                return f"messages[{i}]: image url must be http(s) or a data URI"
    return None


def echo_responder(body: dict[str, Any]) -> str:
    return "echo: " + _last_user_text(body)


class FakeServer:
    """Scripted OpenAI-compatible server.

    - `responder(body) -> str`: the answer text (default: echo of the last user message/prompt);
    - `answers`: a fixed list of answers returned in order (then the responder);
    - `latency`: seconds to sleep before answering each completion request;
    - `fail_first` + `fail_status`: the first N completion requests fail with that status (e.g. 429);
    - `fail_always`: every completion request fails with `fail_status` (e.g. 500 forever);
    - `garbage`: answers are random-looking junk text (what a broken model returns);
    - `invalid_json`: the HTTP body is not JSON at all (a broken proxy).
    - `reject_constraints`: a request carrying a decoding constraint (`grammar`, `response_format`,
      `structured_outputs`, `ebnf`) gets HTTP 400 naming that field, as a server without support does;
    - `honor_max_tokens`: an answer longer than the request's `max_tokens` (counted in whitespace
      words) is cut there with `finish_reason: "length"`, as a real server cuts it.
    - `token_delay`: a request with `stream: true` is answered with server-sent events, one chunk
      per word, this many seconds apart (usage in a last chunk when `stream_options.include_usage`);
      any other request waits as long as the stream of its answer would take, then answers whole;
    - `reject_tools`: a request carrying `tools` gets HTTP 400 naming them, as a server without
      native tool support does (llama.cpp without --jinja, vLLM without --enable-auto-tool-choice);
      answers that are dicts with `tool_calls` come back as native tool calls (finish_reason
      "tool_calls");
    - `vision=False`: a request with an image content part gets HTTP 400 (a text-only model); malformed
      content parts (unknown type, an image URL neither http(s) nor base64 data:) always get 400;
    - `echo_key`: failures quote the request's Authorization header back, as some providers do
      in their "invalid API key" errors (to test that lmp scrubs keys from everything it writes).
    The attributes can be changed while the server runs; `requests` records every request.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        answers: list[str | dict[str, Any]] | None = None,
        latency: float = 0.0,
        fail_first: int = 0,
        fail_status: int = 500,
        fail_always: bool = False,
        garbage: bool = False,
        invalid_json: bool = False,
        reject_constraints: bool = False,
        honor_max_tokens: bool = False,
        echo_key: bool = False,
        model: str = "fake-model",
        token_delay: float = 0.0,
        reject_tools: bool = False,
        vision: bool = True,
    ) -> None:
        self.vision = vision
        self.reject_tools = reject_tools
        self.token_delay = token_delay
        self.echo_key = echo_key
        self.responder = responder or echo_responder
        self.answers = list(answers or [])
        self.latency = latency
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.fail_always = fail_always
        self.garbage = garbage
        self.invalid_json = invalid_json
        self.reject_constraints = reject_constraints
        self.honor_max_tokens = honor_max_tokens
        self.model = model
        self.retry_after = "0"  # the Retry-After header sent with a 429
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeServer is not running"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-style api_base (ends in /v1)."""
        return self.base_url + "/v1"

    def completion_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("completions")]

    # -- behaviour --------------------------------------------------------------------------------

    def _decide(self, body: dict[str, Any]) -> tuple[int, str | dict[str, Any]]:
        """(status, answer text) for the next completion request."""
        with self._lock:
            self._counter += 1
            n = self._counter
            answer = self.answers.pop(0) if self.answers else None
        if self.fail_always or n <= self.fail_first:
            return self.fail_status, ""
        if self.garbage:
            return 200, "\x00}{ ]]##@@ lorem \ufffd ipsum ### [[ ## ## ]] ~~~ " + str(n)
        return 200, answer if answer is not None else self.responder(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else ~40 ms per keep-alive response (Nagle + delayed ACK)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass  # keep test output clean

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("Retry-After", fake.retry_after)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests do this on purpose)

            def _record(self, body: dict[str, Any]) -> None:
                with fake._lock:
                    fake.requests.append(
                        RecordedRequest(self.path, body, {k.lower(): v for k, v in self.headers.items()})
                    )

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                self._record({})
                if self.path.rstrip("/") in ("/health", "/v1/health"):
                    self._send(200, {"status": "ok"})
                elif self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": [{"id": fake.model, "object": "model", "owned_by": "lmp"}],
                        },
                    )
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(
                        400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}
                    )
                    return
                self._record(body)
                path = self.path.split("?")[0].rstrip("/")
                chat = path.endswith("/chat/completions")
                if not chat and not path.endswith("/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                if fake.latency:
                    time.sleep(fake.latency)
                sent = [k for k in CONSTRAINT_KEYS if body.get(k) is not None]
                if fake.reject_constraints and sent:
                    self._send(400, {"error": {"message": f"this server does not support `{sent[0]}`",
                                               "type": "invalid_request_error", "param": sent[0]}})
                    return
                problem = content_problem(body, fake.vision)
                if problem:  # as an OpenAI-compatible server validates message content parts
                    self._send(400, {"error": {"message": problem, "type": "invalid_request_error",
                                               "param": "messages"}})
                    return
                if fake.reject_tools and body.get("tools"):
                    self._send(400, {"error": {"message": "this server does not support `tools` "
                                               "(native tool calling is not enabled)",
                                               "type": "invalid_request_error", "param": "tools"}})
                    return
                status, text = fake._decide(body)
                if status != 200:
                    kind = "rate_limit_exceeded" if status == 429 else "server_error"
                    message = f"scripted failure {status}"
                    if fake.echo_key:
                        auth = self.headers.get("Authorization") or ""
                        message += f"; incorrect API key provided: {auth.removeprefix('Bearer ')}"
                    self._send(status, {"error": {"message": message, "type": kind, "code": status}})
                    return
                if fake.invalid_json:
                    self._send(200, None, raw=b"<html>this is not json</html>")
                    return
                reason = "stop"
                limit = body.get("max_tokens")
                if fake.honor_max_tokens and isinstance(limit, int) and isinstance(text, str) and len(text.split()) > limit:
                    text, reason = " ".join(text.split()[:limit]), "length"
                if isinstance(text, dict):  # a native tool-calling turn
                    self._send(200, _tool_call_payload(body, text, fake.model))
                    return
                if body.get("stream"):
                    self._send_stream(body, text, chat, reason)
                    return
                if fake.token_delay:
                    # Without streaming the answer comes once every token is generated, as from a real server.
                    time.sleep(fake.token_delay * max(0, len(split_tokens(text)) - 1))
                self._send(200, _completion_payload(body, text, chat, fake.model, reason))

            def _send_stream(self, body: dict[str, Any], text: str, chat: bool, reason: str) -> None:
                # Server-sent events as OpenAI sends them: one chunk per word (`token_delay` apart), a
                # last chunk with finish_reason, the usage chunk when asked for, then [DONE]. The body
                # ends when the connection closes (no Content-Length).
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    start = time.monotonic()
                    for i, piece in enumerate(split_tokens(text)):
                        if i and fake.token_delay:
                            # Against the clock, not chunk to chunk: a steady generation rate, whose
                            # total matches the one sleep of a non-streamed answer.
                            time.sleep(max(0.0, start + i * fake.token_delay - time.monotonic()))
                        self._event(_chunk_payload(body, piece, chat, fake.model, None))
                    self._event(_chunk_payload(body, "", chat, fake.model, reason))
                    options = body.get("stream_options") or {}
                    if isinstance(options, dict) and options.get("include_usage"):
                        usage = _completion_payload(body, text, chat, fake.model, reason)["usage"]
                        self._event({**_chunk_payload(body, "", chat, fake.model, None), "choices": [],
                                     "usage": usage})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (a cancelled stream)
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def _chunk_payload(body: dict[str, Any], piece: str, chat: bool, default_model: str,
                   finish_reason: str | None) -> dict[str, Any]:
    model = body.get("model") or default_model
    created = int(time.time())
    if chat:
        delta = {"role": "assistant", "content": piece} if piece else {}
        return {"id": f"chatcmpl-fake{created}", "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
    return {"id": f"cmpl-fake{created}", "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": piece, "logprobs": None, "finish_reason": finish_reason}]}


def _tool_call_payload(body: dict[str, Any], answer: dict[str, Any], default_model: str) -> dict[str, Any]:
    calls = []
    for i, call in enumerate(answer.get("tool_calls") or []):
        args = call.get("arguments", {})
        calls.append({"id": call.get("id") or f"call_{i}_{len(body.get('messages', []))}", "type": "function",
                      "function": {"name": call["name"],
                                   "arguments": args if isinstance(args, str) else json.dumps(args)}})
    content = answer.get("content")
    payload = _completion_payload(body, content or "", True, default_model, "tool_calls" if calls else "stop")
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    payload["choices"][0]["message"] = message
    return payload


def _completion_payload(body: dict[str, Any], text: str, chat: bool, default_model: str,
                        finish_reason: str = "stop") -> dict[str, Any]:
    if chat:
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    else:
        prompt_words = len(str(body.get("prompt", "")).split())
    usage = {
        "prompt_tokens": prompt_words,
        "completion_tokens": len(text.split()),
        "total_tokens": prompt_words + len(text.split()),
    }
    model = body.get("model") or default_model
    created = int(time.time())
    if chat:
        return {
            "id": f"chatcmpl-fake{created}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
            ],
            "usage": usage,
        }
    return {
        "id": f"cmpl-fake{created}",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }
