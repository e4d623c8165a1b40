"""`Image` values: loading (path, URL, bytes, base64, data: URI), content parts for the model, and
the placeholders that stand for them wherever text is shown or stored.

An image reaches the model as an OpenAI-style content part,
`{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}` (litellm translates it for
other providers). Adapters format an `Image` input as its *marker*, the placeholder text plus a
content hash (`<image: cat.png, 12 KB, image/png #1a2b3c4d5e6f>`); `attach_parts` turns each marker
of a rendered message into the image part, and `redact_messages` turns parts back into placeholders
for previews and call history. So base64 never lands in logs, previews or traces, and a marker that
somehow reaches text (an optimizer showing a demo to a prompt model) still reads as a placeholder.

URLs are passed through as URLs: lmp never fetches them (the provider does). Local files and bytes
are sent inline as base64 data: URIs, size-limited (`LMP_IMAGE_MAX_BYTES`, default 20 MB), with the
MIME type read from the content, not the file name.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import hashlib
import os
import re
import threading
import weakref
from collections.abc import Iterator
from typing import Any

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Magic numbers of the formats vision models accept.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_DATA_URI = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[^;,]*)*)(;base64)?,(.*)", re.S)
_B64 = re.compile(r"[A-Za-z0-9+/=\s]+")
MARKER = re.compile(r"<image: [^<>\n]*? #([0-9a-f]{16})>")


# Paths name files on the machine that runs lmp: fine for the CLI and Python callers, not for inputs
# that arrive over HTTP (`lmp serve` turns them off, so a client cannot make the server send its files).
_local_files: contextvars.ContextVar[bool] = contextvars.ContextVar("lmp_image_local_files", default=True)


@contextlib.contextmanager
def no_local_files() -> Iterator[None]:
    """Inside: an `Image` input given as a file path is refused (URLs, data: URIs and base64 only)."""
    token = _local_files.set(False)
    try:
        yield
    finally:
        _local_files.reset(token)


class ImageError(TypeError):
    """A value that cannot be an `Image` (a TypeError: it is a value of the wrong type for the field)."""


def max_bytes() -> int:
    raw = os.environ.get("LMP_IMAGE_MAX_BYTES")
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise ImageError(f"LMP_IMAGE_MAX_BYTES must be a number of bytes, got {raw!r}") from None
    return DEFAULT_MAX_BYTES


def sniff_mime(data: bytes) -> str | None:
    """The image MIME type from the content's magic number, or None for anything else."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} KB"
    return f"{n / (1024 * 1024):.1f} MB"


# Live Images by hash prefix, so that a marker in rendered text finds its image. Weak: an image is
# kept alive by the inputs that hold it, not by having been rendered once. Several Images may share
# content (hence a key); any live one will do.
_registry: dict[str, list[weakref.ref[Image]]] = {}
_registry_lock = threading.Lock()


def _register(image: Image) -> None:
    key = image.digest[:16]
    with _registry_lock:
        refs = [r for r in _registry.get(key, []) if r() is not None]
        refs.append(weakref.ref(image))
        _registry[key] = refs
        if len(_registry) > 4096:  # drop keys whose images are all gone
            for k in [k for k, rs in _registry.items() if all(r() is None for r in rs)]:
                del _registry[k]


def _lookup(key: str) -> Image | None:
    with _registry_lock:
        for r in _registry.get(key, []):
            image = r()
            if image is not None:
                return image
    return None


class Image:
    """An image input: inline bytes (sent as a base64 data: URI) or a URL (sent as is).

    Build one with `Image("cat.png")` / `Image(b"...")` / `Image("https://...")`, or
    `Image.from_path`, `from_bytes`, `from_url`, `from_base64`. Values are immutable and compare by content.
    """

    lmp_media = "Image"  # what lmp.ir.types.python_value_matches recognises
    __slots__ = ("_data", "_url", "mime", "name", "digest", "__weakref__")

    def __init__(self, source: Any = None, *, data: bytes | None = None, url: str | None = None,
                 mime: str | None = None, name: str | None = None) -> None:
        if source is not None:
            other = as_image(source)
            data, url, mime, name = other._data, other._url, other.mime, name or other.name
        if (data is None) == (url is None):
            raise ImageError("an Image needs exactly one of: bytes, or a URL")
        if data is not None:
            limit = max_bytes()
            if len(data) > limit:
                raise ImageError(f"image{f' {name}' if name else ''} is {human_size(len(data))}, over the "
                                 f"{human_size(limit)} limit (LMP_IMAGE_MAX_BYTES)")
            sniffed = sniff_mime(data)
            if sniffed is None:
                raise ImageError(f"{name or 'the data'} is not a PNG, JPEG, GIF, WebP or BMP image "
                                 f"(first bytes {data[:8]!r})")
            mime = sniffed  # the content decides, not the file name or a declared type
        self._data, self._url = data, url
        self.mime = mime
        self.name = name
        self.digest = hashlib.sha256(data if data is not None else (url or "").encode()).hexdigest()
        _register(self)

    # -------------------------------------------------------------- constructors

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], base_dir: str | None = None) -> Image:
        if not _local_files.get():
            raise ImageError(f"image {os.fspath(path)!r}: file paths are not accepted here (an input over HTTP); "
                             "send an http(s) URL, a data: URI or base64 text")
        full = os.path.join(base_dir or os.getcwd(), os.fspath(path))
        if not os.path.isfile(full):
            raise ImageError(f"image file {os.fspath(path)!r} not found (looked at {os.path.abspath(full)})")
        size = os.path.getsize(full)
        if size > max_bytes():
            raise ImageError(f"image {os.path.basename(full)} is {human_size(size)}, over the "
                             f"{human_size(max_bytes())} limit (LMP_IMAGE_MAX_BYTES)")
        with open(full, "rb") as fh:
            return cls(data=fh.read(), name=os.path.basename(full))

    @classmethod
    def from_bytes(cls, data: bytes, name: str | None = None) -> Image:
        return cls(data=bytes(data), name=name)

    @classmethod
    def from_url(cls, url: str) -> Image:
        if not url.startswith(("http://", "https://")):
            raise ImageError(f"an image URL starts with http:// or https://, got {url[:60]!r}")
        return cls(url=url, name=url.rsplit("/", 1)[-1].split("?", 1)[0] or url)

    @classmethod
    def from_base64(cls, text: str, name: str | None = None) -> Image:
        """Base64 text, or a `data:image/...;base64,...` URI."""
        m = _DATA_URI.fullmatch(text.strip())
        payload = text
        if m is not None:
            if not m.group(3):
                raise ImageError("a data: URI for an image must be base64 (`data:image/png;base64,...`)")
            payload = m.group(4)
        try:
            data = base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ImageError("the image's base64 text is not valid base64") from None
        return cls(data=data, name=name or "inline")

    # -------------------------------------------------------------- views

    @property
    def url(self) -> str:
        """What goes in the content part: the URL, or the bytes as a data: URI."""
        if self._url is not None:
            return self._url
        assert self._data is not None
        return f"data:{self.mime};base64,{base64.b64encode(self._data).decode('ascii')}"

    @property
    def data(self) -> bytes | None:
        return self._data

    @property
    def is_url(self) -> bool:
        return self._url is not None

    @property
    def size(self) -> int | None:
        return None if self._data is None else len(self._data)

    def placeholder(self) -> str:
        """`<image: cat.png, 12 KB, image/png>`, or `<image: https://...>` for a URL."""
        if self._url is not None:
            return f"<image: {_clip(self._url)}>"
        return f"<image: {self.name or 'inline'}, {human_size(len(self._data or b''))}, {self.mime}>"

    def marker(self) -> str:
        """The placeholder with the content hash: what adapters put in the text where the image goes."""
        return self.placeholder()[:-1] + f" #{self.digest[:16]}>"

    def content_part(self) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": self.url}}

    def to_json(self) -> str:
        """For JSON output (`lmp run --json`, traces): the placeholder, never the bytes."""
        return self.placeholder()

    def __str__(self) -> str:
        return self.placeholder()

    def __repr__(self) -> str:
        return f"Image({self.placeholder()[8:-1]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def as_image(value: Any, base_dir: str | None = None) -> Image:
    """A run-time value for an `Image` field: an Image, bytes, a path (relative to `base_dir`, default
    the working directory), an http(s) URL, a data: URI, base64 text, or `{"url"|"path"|"base64": ...}`."""
    if isinstance(value, Image):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return Image.from_bytes(bytes(value))
    if isinstance(value, os.PathLike):
        return Image.from_path(value, base_dir)
    if isinstance(value, dict):
        for key, make in (("url", Image.from_url), ("base64", Image.from_base64)):
            if isinstance(value.get(key), str):
                return make(value[key])
        if isinstance(value.get("path"), str):
            return Image.from_path(value["path"], base_dir)
        raise ImageError("an image object has a `url`, `path` or `base64` key")
    if not isinstance(value, str):
        raise ImageError(f"expected Image (a path, URL, data: URI or bytes), got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ImageError("expected Image, got an empty string")
    if text.startswith("data:"):
        return Image.from_base64(text)
    if text.startswith(("http://", "https://")):
        return Image.from_url(text)
    full = os.path.join(base_dir or os.getcwd(), text)
    if _local_files.get() and os.path.isfile(full):
        return Image.from_path(text, base_dir)
    if len(text) >= 64 and _B64.fullmatch(text):
        return Image.from_base64(text)
    if not _local_files.get():
        raise ImageError(f"image {text[:80]!r}: expected an http(s) URL, a data: URI or base64 text (file paths "
                         "are not accepted here)")
    raise ImageError(f"image {text[:80]!r} is not a file (looked at {os.path.abspath(full)}), an http(s) URL, "
                     "a data: URI or base64 text")


def served_image_errors(module: Any, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """For `lmp serve`: the Image inputs of a request that cannot be images there (file paths are
    refused), as field errors `{field, loc, message, type}`; the images load again when the run binds them."""
    from lmp.ir.types import ListType, MediaType, strip_optional

    errors: list[dict[str, Any]] = []
    for p in getattr(module, "params", []):
        t = strip_optional(p.type)
        value = inputs.get(p.name)
        if value is None:
            continue
        items = [(p.name, [p.name], value)] if isinstance(t, MediaType) else [
            (f"{p.name}.{i}", [p.name, i], v) for i, v in enumerate(value)
        ] if isinstance(t, ListType) and isinstance(strip_optional(t.item), MediaType) and isinstance(
            value, list) else []
        for name, loc, v in items:
            try:
                with no_local_files():
                    as_image(v)
            except ImageError as exc:
                errors.append({"field": name, "loc": loc, "message": str(exc), "type": "image"})
    return errors


def find_images(value: Any) -> list[Image]:
    """Every Image in a value (nested in lists, dicts and records)."""
    if isinstance(value, Image):
        return [value]
    if isinstance(value, list | tuple):
        return [i for v in value for i in find_images(v)]
    if isinstance(value, dict) or hasattr(value, "items") and hasattr(value, "keys"):
        return [i for _, v in value.items() for i in find_images(v)]
    return []


# ------------------------------------------------------------------ messages


def attach_parts(messages: list[Any]) -> list[Any]:
    """Messages whose text holds image markers get OpenAI-style content lists (text parts and image
    parts in order); the others are returned unchanged."""
    out = []
    for m in messages:
        content = m.get("content")
        if not isinstance(content, str) or "<image: " not in content:
            out.append(m)
            continue
        parts: list[dict[str, Any]] = []
        pos = 0
        for match in MARKER.finditer(content):
            image = _lookup(match.group(1))
            if image is None:
                continue  # not an image of this process: leave the placeholder text
            text = content[pos:match.start()]
            if text.strip():
                parts.append({"type": "text", "text": text})
            parts.append(image.content_part())
            pos = match.end()
        if not parts:
            out.append(m)
            continue
        tail = content[pos:]
        if tail.strip():
            parts.append({"type": "text", "text": tail})
        out.append({**m, "content": parts})
    return out


def part_placeholder(part: Any) -> str:
    """The placeholder text for one content part (an image part from its URL; text as is)."""
    if not isinstance(part, dict):
        return str(part)
    if part.get("type") == "text":
        return str(part.get("text", ""))
    if part.get("type") == "image_url":
        spec = part.get("image_url")
        url = spec.get("url", "") if isinstance(spec, dict) else str(spec or "")
        m = _DATA_URI.fullmatch(url) if url.startswith("data:") else None
        if m is not None:
            try:
                data = base64.b64decode(m.group(4))
            except (binascii.Error, ValueError):
                data = b""
            digest = hashlib.sha256(data).hexdigest()
            known = _lookup(digest[:16])
            if known is not None:  # the Image this process sent: its name too
                return known.placeholder()
            return f"<image: inline, {human_size(len(data))}, {m.group(1) or 'unknown type'}, sha256:{digest[:12]}>"
        return f"<image: {_clip(url)}>"
    return f"<{part.get('type', 'part')}>"


def redact_content(content: Any) -> Any:
    """A message's content as text: image parts become placeholders, and markers lose their hash."""
    if isinstance(content, list):
        return "".join(part_placeholder(p) for p in content)
    if isinstance(content, str) and "<image: " in content:
        return MARKER.sub(lambda m: m.group(0)[: -len(m.group(1)) - 3] + ">", content)
    return content


def redact_messages(messages: list[Any]) -> list[Any]:
    """Messages for showing and storing (previews, call history): never the base64 of an image."""
    out = []
    for m in messages:
        if isinstance(m, dict) and isinstance(m.get("content"), list | str):
            red = redact_content(m["content"])
            out.append(m if red is m["content"] else {**m, "content": red})
        else:
            out.append(m)
    return out


def has_image_parts(messages: list[Any]) -> bool:
    return any(isinstance(m.get("content"), list) and any(
        isinstance(p, dict) and p.get("type") == "image_url" for p in m["content"]) for m in messages)


# ------------------------------------------------------------------ models that take images


def accepts_images(lm: Any) -> bool | None:
    """Whether `lm` takes image parts: True/False where known, None when unknown (then lmp sends
    them and the provider decides). The embedded local model and text-completion models do not;
    for hosted models litellm's `supports_vision` answers where it knows the model; a model param
    `vision: true|false` overrides both."""
    own = getattr(lm, "vision", None)
    if isinstance(own, bool):
        return own
    if getattr(lm, "model_type", "chat") == "text":
        return False
    from lmp.runtime.lm.litellm_lm import LiteLLM
    from lmp.runtime.lm.local import LocalLM

    if isinstance(lm, LocalLM):
        return False
    model = getattr(lm, "model", None)
    if not isinstance(lm, LiteLLM) or not isinstance(model, str) or lm.api_base:
        return None  # a self-hosted OpenAI-compatible server or a custom LM: only it knows
    try:
        from lmp.runtime.lm.litellm_lm import import_litellm  # the call itself imports it too

        litellm = import_litellm()
        info_known = model in getattr(litellm, "model_cost", {}) or model.split("/", 1)[-1] in getattr(
            litellm, "model_cost", {})
        if not info_known:
            return None
        return bool(litellm.supports_vision(model=model))
    except Exception:  # noqa: BLE001 - unknown to litellm: let the provider decide
        return None


def model_name(lm: Any) -> str:
    return str(getattr(lm, "name", None) or getattr(lm, "model", None) or type(lm).__name__)


def require_vision(lm: Any, signature: Any, inputs: dict[str, Any]) -> None:
    """Before any request: an image input for a model known not to take images is an error naming
    the model and the field."""
    fields = [name for name, value in inputs.items() if find_images(value)]
    if not fields or accepts_images(lm) is not False:
        return
    from lmp.runtime.errors import LmpRuntimeError

    names = ", ".join(f"`{f}`" for f in fields)
    raise LmpRuntimeError(
        f"model `{model_name(lm)}` does not accept images, but input {names} of `{signature.name}` holds an "
        "image; use a vision model for this predictor (e.g. `--model default=openai/gpt-4o-mini`), or set the "
        "model param `vision: true` if this model does take images")


__all__ = ["Image", "ImageError", "no_local_files", "served_image_errors", "accepts_images", "as_image", "attach_parts", "find_images", "redact_messages",
           "require_vision"]
