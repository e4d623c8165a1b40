"""Token counts of a previewed prompt: exact when the model's own tokenizer is on disk, else an estimate
that says it is one.

Exact counts need the tokenizer and the chat template the model's server applies. The embedded local
model (`local`, lmp.runtime.lm.local) carries both inside its GGUF file, which is already on disk: the
vocabulary, merges and template are read from the file's header (never the weights) and rebuilt with
the `tokenizers` library, and the template is rendered as llama.cpp's server renders it (with Jinja).
The total then equals the `prompt_tokens` the local server reports for the same messages.

Nothing is ever downloaded: litellm's `token_counter` is not used because for many models it fetches
a tokenizer from the Hugging Face hub (and an image from its URL). Every other model gets the
estimate, about 4 characters per token, labelled as such.

Loading takes a fraction of a second once per process (and GGUF file); it happens on a thread of its
own, and a caller waits at most `wait` seconds for it (the editor a little, `lmp preview` longer), so
a preview is never held up: until the tokenizer is ready, counts are estimates and say why.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 4  # the estimate: English prose and code average about 4 characters per token
# Caps that keep a count cheap whatever the input: a prompt longer than this is estimated, a GGUF
# header larger than this (or with absurd counts) is not read.
MAX_EXACT_CHARS = 100_000
MAX_EXACT_MESSAGES = 150  # each message boundary is one render of the template: quadratic in messages
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_ARRAY_ITEMS = 2_000_000
# llama.cpp's pre-tokenizers that `tokenizers` reproduces exactly (llama-vocab.cpp): SmolLM splits
# every digit, then GPT-2's byte-level regex; GPT-2 uses the regex alone.
_PRE_TOKENIZERS = ("smollm", "gpt-2")
_CONTROL, _USER_DEFINED = 3, 4  # tokenizer.ggml.token_type values parsed as special tokens in a prompt


@dataclass
class TokenCounts:
    """`method` is "exact" (the model's tokenizer and chat template) or "estimate"; `per_message`
    lines up with the messages; `total` is the whole prompt (exact: what the server counts, template
    and reply prefix included; estimate: the sum)."""

    method: str
    per_message: list[int]
    total: int
    tokenizer: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.method == "exact"

    def label(self, n: int) -> str:
        return f"{n} tokens" if self.exact else f"≈{n} tokens"

    def summary(self) -> str:
        """`48 tokens, exact (smollm2-135m-instruct tokenizer; ...)` / `≈48 tokens, an estimate (...)`."""
        if self.exact:
            return f"{self.label(self.total)}, exact ({self.tokenizer}; {self.note})"
        return f"{self.label(self.total)}, an estimate ({self.note})"

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "perMessage": self.per_message, "total": self.total,
                "tokenizer": self.tokenizer, "note": self.note}


def estimate(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    return None


def estimated(messages: list[dict[str, Any]], why: str) -> TokenCounts:
    counts = [estimate(_text_of(m.get("content")) or str(m.get("content") or "")) for m in messages]
    return TokenCounts("estimate", counts, sum(counts), None, why)


LOADING = "the model's tokenizer is still loading; counts become exact on the next refresh"


def _start(messages: list[dict[str, Any]], model: str | None,
           tools: Any = None) -> TokenCounts | tuple[Future[GGUFTokenizer], str]:
    """An estimate saying why counts cannot be exact, or the (loading) tokenizer and its name."""
    if isinstance(tools, dict) and tools.get("protocol") == "native":
        return estimated(messages, "≈4 characters per token (the server adds the native tool definitions to the "
                                   "prompt with its template: not counted exactly)")
    source, name, why = tokenizer_file(model)
    if source is None:
        return estimated(messages, why)
    if len(messages) > MAX_EXACT_MESSAGES or sum(len(_text_of(m.get("content")) or "") for m in messages) \
            > MAX_EXACT_CHARS:
        return estimated(messages, f"a prompt over {MAX_EXACT_MESSAGES} messages or {MAX_EXACT_CHARS:,} "
                                   "characters is not tokenized")
    if any(_text_of(m.get("content")) is None or not isinstance(m.get("role"), str) for m in messages):
        return estimated(messages, "a message holds more than text (images, tool calls)")
    return _load(source), name


def _counted(tok: GGUFTokenizer, name: str, messages: list[dict[str, Any]]) -> TokenCounts:
    counts = tok.count(messages)
    counts.tokenizer = f"{name} tokenizer"
    return counts


def _failed(messages: list[dict[str, Any]], exc: BaseException) -> TokenCounts:
    return estimated(messages, f"the model's tokenizer could not be used ({type(exc).__name__}: {exc})")


def count_messages(messages: list[dict[str, Any]], model: str | None, *, wait: float = 0.5,
                   tools: Any = None) -> TokenCounts:
    """Token counts of `messages` as `model` would receive them. Exact for the embedded local model
    (waiting at most `wait` seconds for its tokenizer to load, the first time); an estimate otherwise.
    `tools`: the preview's tool definitions (native ones make the count an estimate). Never raises: a
    problem makes an estimate that names it."""
    try:
        started = _start(messages, model, tools)
        if isinstance(started, TokenCounts):
            return started
        future, name = started
        try:
            tok = future.result(timeout=max(0.0, wait))
        except TimeoutError:
            return estimated(messages, LOADING)
        return _counted(tok, name, messages)
    except Exception as exc:  # noqa: BLE001 - a count is a hint: it must never break a preview
        return _failed(messages, exc)


async def count_messages_async(messages: list[dict[str, Any]], model: str | None, *,
                               wait: float = 0.5, tools: Any = None) -> TokenCounts:
    """`count_messages` for an event loop (the language server): waiting for the tokenizer holds no
    thread, and the count itself runs on the loop's default executor."""
    import asyncio

    try:
        started = _start(messages, model, tools)
        if isinstance(started, TokenCounts):
            return started
        future, name = started
        try:
            tok = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), max(0.0, wait))
        except TimeoutError:
            return estimated(messages, LOADING)
        return await asyncio.get_running_loop().run_in_executor(None, _counted, tok, name, messages)
    except Exception as exc:  # noqa: BLE001
        return _failed(messages, exc)


def tokenizer_file(model: str | None) -> tuple[Path | None, str, str]:
    """(the GGUF whose tokenizer `model` uses, the model's name, "") or (None, "", why the count is an
    estimate)."""
    generic = "≈4 characters per token; exact counts need the model's tokenizer on disk (the local model)"
    if model is None:
        return None, "", generic
    from lmp.runtime.lm.local import LOCAL_MODEL_ID, LOCAL_TEXT_MODEL_ID, find_local_model

    text_model = "≈4 characters per token (a text-completion model: no chat template to count with)"
    if model == LOCAL_TEXT_MODEL_ID:
        return None, "", text_model
    if model != LOCAL_MODEL_ID:
        return None, "", generic
    if os.environ.get("LMP_LOCAL_URL"):
        return None, "", "≈4 characters per token (LMP_LOCAL_URL: the served model's tokenizer is not known here)"
    info = find_local_model()
    if info is None:
        return None, "", "≈4 characters per token (the local model is not installed)"
    if info.model_type != "chat":
        return None, "", text_model
    return info.path, info.alias, ""


# ------------------------------------------------------------------ loading, once per file


_lock = threading.Lock()
_loaded: dict[tuple[str, int, int], Future[GGUFTokenizer]] = {}


def _load(path: Path) -> Future[GGUFTokenizer]:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _lock:
        future = _loaded.get(key)
        if future is not None:
            return future
        future = Future()
        _loaded[key] = future

    def work() -> None:
        try:
            future.set_result(GGUFTokenizer.from_file(path))
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            future.set_exception(exc)

    threading.Thread(target=work, name="lmp-tokenizer-load", daemon=True).start()
    return future


# ------------------------------------------------------------------ GGUF header


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_WANTED = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
           "tokenizer.ggml.merges", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.bos_token_id",
           "tokenizer.ggml.eos_token_id", "tokenizer.chat_template", "general.name")


class GGUFError(ValueError):
    """A file that is not a GGUF this reader handles (or whose header is past the caps)."""


def read_gguf_header(path: Path, wanted: tuple[str, ...] = _WANTED) -> dict[str, Any]:
    """The `wanted` metadata values of a GGUF file (versions 2 and 3), read through mmap from the
    header only: the tensors are never touched."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        limit = min(len(buf), MAX_HEADER_BYTES)
        pos = 0

        def take(fmt: str) -> Any:
            nonlocal pos
            size = struct.calcsize(fmt)
            if pos + size > limit:
                raise GGUFError("the GGUF header ends early or is larger than lmp reads")
            value = struct.unpack_from(fmt, buf, pos)
            pos += size
            return value[0] if len(value) == 1 else value

        def string() -> str:
            nonlocal pos
            n = take("<Q")
            if pos + n > limit:
                raise GGUFError("the GGUF header ends early or is larger than lmp reads")
            text = bytes(buf[pos:pos + n]).decode("utf-8", "replace")
            pos += n
            return text

        def value(kind: int, keep: bool) -> Any:
            nonlocal pos
            if kind == 8:
                return string()
            if kind == 9:
                item, n = take("<I"), take("<Q")
                if n > MAX_ARRAY_ITEMS:
                    raise GGUFError(f"a GGUF array of {n:,} items is larger than lmp reads")
                if item in _SCALARS and item != 7:
                    size = struct.calcsize(_SCALARS[item])
                    if not keep:
                        pos += size * n
                        return None
                    return list(take(f"<{n}{_SCALARS[item][1]}")) if n else []
                items = [value(item, keep) for _ in range(n)]  # strings (or nested arrays): walked
                return items if keep else None
            if kind not in _SCALARS:
                raise GGUFError(f"unknown GGUF value type {kind}")
            return take(_SCALARS[kind])

        if len(buf) < 24 or bytes(buf[:4]) != b"GGUF":
            raise GGUFError(f"{path.name} is not a GGUF file")
        pos = 4
        version = take("<I")
        if version not in (2, 3):
            raise GGUFError(f"GGUF version {version} is not supported")
        take("<Q")  # tensor count
        n_kv = take("<Q")
        out: dict[str, Any] = {}
        for _ in range(n_kv):
            key = string()
            kind = take("<I")
            keep = key in wanted
            v = value(kind, keep)
            if keep:
                out[key] = v
            if all(k in out for k in wanted):
                break
        return out


# ------------------------------------------------------------------ the tokenizer


class GGUFTokenizer:
    """A GGUF's BPE tokenizer and chat template, counting a chat prompt as llama.cpp's server does."""

    def __init__(self, tokenizer: Any, template: Any, name: str, bos: str, eos: str, add_bos: bool) -> None:
        self.tokenizer = tokenizer
        self.template = template
        self.name = name
        self.bos, self.eos, self.add_bos = bos, eos, add_bos

    @classmethod
    def from_file(cls, path: Path) -> GGUFTokenizer:
        from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

        meta = read_gguf_header(path)
        kind, pre = meta.get("tokenizer.ggml.model"), meta.get("tokenizer.ggml.pre")
        if kind != "gpt2" or pre not in _PRE_TOKENIZERS:
            raise GGUFError(f"tokenizer {kind}/{pre} is not one lmp counts exactly")
        tokens: list[str] = meta["tokenizer.ggml.tokens"]
        types: list[int] = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
        merges = [tuple(m.split(" ", 1)) for m in meta.get("tokenizer.ggml.merges") or []]
        template_text = meta.get("tokenizer.chat_template")
        if not isinstance(template_text, str):
            raise GGUFError("the GGUF has no chat template")
        tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                             if pre == "smollm" else byte_level)
        # Control and user-defined tokens (<|im_start|>, ...) are matched whole in a templated prompt.
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, ty in zip(tokens, types, strict=False) if ty in (_CONTROL, _USER_DEFINED)])

        def token(key: str) -> str:
            i = meta.get(key)
            return tokens[i] if isinstance(i, int) and 0 <= i < len(tokens) else ""

        return cls(tok, _compile_template(template_text), str(meta.get("general.name") or path.stem),
                   token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"),
                   bool(meta.get("tokenizer.ggml.add_bos_token", False)))

    def render(self, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        return str(self.template.render(messages=messages, add_generation_prompt=generation_prompt,
                                        bos_token=self.bos, eos_token=self.eos))

    def count(self, messages: list[dict[str, Any]]) -> TokenCounts:
        shown = [{"role": m["role"], "content": m["content"]} for m in messages]
        full = self.render(shown, True)
        # Where each message ends in the rendered prompt: a template renders message by message, so the
        # prompt of the first k messages is a prefix of the whole one.
        ends = [len(self.render(shown[:k], False)) for k in range(1, len(shown) + 1)]
        if any(not full.startswith(self.render(shown[:k], False)) for k in (1, len(shown))) or ends != sorted(ends):
            raise GGUFError("the chat template does not render message by message")
        enc = self.tokenizer.encode(full, add_special_tokens=False)
        per = [0] * len(shown)
        reply = 0
        for start, _ in enc.offsets:
            i = next((k for k, end in enumerate(ends) if start < end), None)
            if i is None:
                reply += 1
            else:
                per[i] += 1
        total = len(enc.ids) + int(self.add_bos)
        return TokenCounts("exact", per, total, f"{self.name} tokenizer",
                           "each message counted with its chat-template markers, the total with the reply "
                           f"prefix ({reply} token{'s' if reply != 1 else ''})",
                           {"replyPrefix": reply, "bos": int(self.add_bos)})


def _compile_template(text: str) -> Any:
    # A sandbox: the template comes from a model file (LMP_LOCAL_GGUF may name any), not from lmp.
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise GGUFError(f"the chat template refused the messages: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(text)
