"""`lmp lsp`: a thin pygls 2 server over the library.

Every feature reads the IR that `lmp.project.load_program` builds (the open buffers passed as an
overlay); nothing here parses `.lmp` text on its own. Analysis runs on one worker thread so the
event loop keeps answering while a large file is checked. Opening a file never imports user Python:
tools and retrievers are shown by their declared target string.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from lmp import __version__
from lmp.diagnostics import Diagnostic, Fix, Severity
from lmp.ir import nodes as ir
from lmp.lsp import features as F
from lmp.lsp.index import FileIndex, Occurrence
from lmp.lsp.positions import LineMap
from lmp.lsp.rpc import protocol_class
from lmp.syntax.limits import MAX_FILE_BYTES

log = logging.getLogger("lmp.lsp")

REQUEST_FAILED = -32803
DEFAULT_DEBOUNCE = 0.15
# The quiet period before a burst of edits is analysed: half as long as one analysis of the document
# takes, between MIN_QUIET and DEFAULT_DEBOUNCE (unless the client set debounceMs). The last keystroke
# then has its diagnostics within ~1.5 analyses; waiting longer saves little CPU (an analysis of a stale
# text costs one analysis) and only delays them: on a 2,000-line file the fixed 150 ms made the last
# keystroke -> diagnostics ~260 ms (bench/lsp_latency.py).
MIN_QUIET = 0.03
TOKENIZER_WAIT = 0.5  # seconds a preview waits for the model's tokenizer to load (once per process)
WORKSPACE_FILE_LIMIT = 2000
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`\?")
_RESERVED = set(F.KEYWORDS) | {"True", "False", "None"}


def uri_to_path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = to_fs_path(uri) or unquote(parsed.path)
        return os.path.abspath(path)
    # untitled buffers: a stable fake path so that the loader can key them
    return os.path.abspath(os.path.join(os.getcwd(), "__untitled__", re.sub(r"[^\w.-]", "_", uri)))


def path_to_uri(path: str) -> str:
    return from_fs_path(path) or ("file://" + path)


@dataclass
class Analysis:
    """One load of a document: the IR of it and its imports, indexed."""

    uri: str
    path: str
    version: int | None
    text: str
    loaded: Any  # lmp.ir.project.Loaded
    maps: dict[str, LineMap] = field(default_factory=dict)
    seconds: float = 0.0
    _indexes: dict[str, FileIndex] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def indexes(self) -> dict[str, FileIndex]:
        """Symbol indexes of the file and its imports, built on first use (diagnostics do not need them)."""
        with self._lock:
            if self._indexes is None:
                out: dict[str, FileIndex] = {}
                for p, prog in self.loaded.files.items():
                    try:
                        out[p] = FileIndex(prog, p)
                    except Exception:  # noqa: BLE001 - one bad index must not break the others
                        log.exception("indexing %s failed", p)
                        out[p] = FileIndex(ir.Program(path=p, text=prog.text), p)
                if self.path not in out:
                    out[self.path] = FileIndex(self.loaded.program, self.path)
                self._indexes = out
            return self._indexes

    @property
    def index(self) -> FileIndex:
        return self.indexes[self.path]

    def linemap(self, path: str, encoding: str) -> LineMap:
        lm = self.maps.get(path)
        if lm is None or lm.encoding != encoding:
            prog = self.loaded.files.get(path)
            lm = LineMap(prog.text if prog is not None else "", encoding)
            self.maps[path] = lm
        return lm


def _install_incremental_parse() -> Any:
    """Let the loader reuse the parse of unchanged declarations (see lmp.lsp.incremental).

    The loader looks `parse` up in `lmp.ir.project` at call time; inside the server process that
    name is pointed at an `IncrementalParser` with the same contract. Set LMP_LSP_INCREMENTAL=0 to
    turn it off."""
    if os.environ.get("LMP_LSP_INCREMENTAL", "1") == "0":
        return None
    from lmp.ir import project
    from lmp.lsp.incremental import IncrementalParser

    if not hasattr(project, "parse"):
        return None
    current = project.parse
    if isinstance(getattr(current, "__self__", None), IncrementalParser):
        return current.__self__
    inc = IncrementalParser()
    if not inc.self_test():
        log.warning("incremental parsing disagrees with the whole-file parse here; using the whole-file parse")
        return None
    project.parse = inc.parse
    return inc


def _install_module_reuse() -> Any:
    """Let lowering reuse the IR of unchanged modules between analyses (see lmp.ir.reuse); off with
    LMP_LSP_INCREMENTAL=0, like the incremental parse."""
    if os.environ.get("LMP_LSP_INCREMENTAL", "1") == "0":
        return None
    from lmp.ir import lower
    from lmp.ir.reuse import ModuleReuse, self_test

    if lower.MODULE_REUSE is not None:
        return lower.MODULE_REUSE
    reuse = ModuleReuse()
    if not self_test(reuse):
        log.warning("reusing lowered modules disagrees with lowering them again here; lowering every module")
        return None
    lower.MODULE_REUSE = reuse
    return reuse


class LmpLanguageServer(LanguageServer):
    def __init__(self) -> None:
        # pygls's own protocol keeps an entry per notification forever (lmp.lsp.rpc).
        super().__init__("lmp", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental,
                         protocol_cls=protocol_class())
        self.analyses: dict[str, Analysis] = {}
        self.debounce = DEFAULT_DEBOUNCE
        self.debounce_fixed = False  # True when the client chose debounceMs
        self._analysis_seconds: dict[str, float] = {}
        self.state_file: str | None = None
        self.options: dict[str, Any] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmp-analysis")
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._last_change: dict[str, float] = {}
        self._workspace_cache: dict[str, tuple[float, Any]] = {}
        self._ws_lock = threading.Lock()
        self.incremental = _install_incremental_parse()
        self.module_reuse = _install_module_reuse()
        self.publish_times: list[float] = []
        self._playground: Any = None

    @property
    def playground(self) -> Any:
        """Runs started from the editor and their history (lmp.lsp.playground), made on first use."""
        if self._playground is None:
            from lmp.lsp.playground import Playground

            self._playground = Playground()
        return self._playground

    # ------------------------------------------------------------ documents and analysis

    @property
    def encoding(self) -> str:
        try:
            enc = self.workspace.position_encoding
        except Exception:  # noqa: BLE001 - before initialize
            return "utf-16"
        return str(getattr(enc, "value", enc) or "utf-16")

    def open_texts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            docs = self.workspace.text_documents
        except Exception:  # noqa: BLE001
            return out
        for uri, doc in list(docs.items()):
            out[uri_to_path(uri)] = doc.source
        return out

    def _doc(self, uri: str) -> tuple[str, int | None] | None:
        try:
            doc = self.workspace.get_text_document(uri)
            return doc.source, doc.version
        except Exception:  # noqa: BLE001
            return None

    def _analyze_sync(self, uri: str, text: str, version: int | None, overlay: dict[str, str]) -> Analysis:
        from lmp.project import load_program

        t0 = time.perf_counter()
        path = uri_to_path(uri)
        overlay = dict(overlay)
        overlay[path] = text
        loaded = load_program(path, text=text, overlay=overlay)
        analysis = Analysis(uri, path, version, text, loaded)
        analysis.seconds = time.perf_counter() - t0
        return analysis

    async def analyze(self, uri: str) -> Analysis | None:
        doc = self._doc(uri)
        if doc is None:
            return None
        text, version = doc
        loop = asyncio.get_running_loop()
        analysis = await loop.run_in_executor(self._executor, self._analyze_sync, uri, text, version,
                                              self.open_texts())
        self._analysis_seconds[uri] = analysis.seconds
        current = self.analyses.get(uri)
        if current is None or current.version is None or version is None or version >= current.version:
            self.analyses[uri] = analysis
        return analysis

    async def fresh(self, uri: str) -> Analysis | None:
        """The analysis of the buffer as it is now (re-analysing if an edit is not in it yet)."""
        doc = self._doc(uri)
        cur = self.analyses.get(uri)
        if doc is None:
            return cur
        if cur is not None and cur.version == doc[1] and cur.text == doc[0]:
            return cur
        return await self.analyze(uri)

    def schedule(self, uri: str, immediate: bool = False) -> None:
        """Debounced analysis: the first edit after a pause is analysed at once, a burst of edits
        once it has been quiet for `debounce` seconds; never more than one analysis per document runs."""
        now = time.monotonic()
        prev = self._last_change.get(uri)
        self._last_change[uri] = now
        self._dirty.add(uri)
        if uri in self._tasks:
            return
        leading = immediate or prev is None or now - prev >= self.quiet_period(uri)
        self._tasks[uri] = asyncio.ensure_future(self._run(uri, leading))

    def quiet_period(self, uri: str) -> float:
        if self.debounce_fixed:
            return self.debounce
        took = self._analysis_seconds.get(uri)
        return self.debounce if took is None else min(self.debounce, max(MIN_QUIET, took / 2))

    async def _quiet(self, uri: str) -> None:
        while True:
            wait = self._last_change.get(uri, 0) + self.quiet_period(uri) - time.monotonic()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _run(self, uri: str, leading: bool) -> None:
        try:
            if not leading:
                await self._quiet(uri)
            while uri in self._dirty:
                self._dirty.discard(uri)
                try:
                    analysis = await self.analyze(uri)
                    if analysis is not None:
                        self.publish(analysis)
                        self._reanalyze_dependents(analysis.path, uri)
                        # index in the background, so the next hover or completion finds it ready (not when
                        # another edit is waiting: its analysis would queue behind this index on the one worker)
                        if uri not in self._dirty:
                            asyncio.get_running_loop().run_in_executor(self._executor, lambda a=analysis: a.indexes)
                except Exception as exc:  # noqa: BLE001 - a failed analysis must not stop the next one
                    log.exception("analysis of %s failed", uri)
                    self._publish_internal_error(uri, exc)
                if uri in self._dirty:
                    await self._quiet(uri)
        finally:
            self._tasks.pop(uri, None)

    def _publish_internal_error(self, uri: str, exc: BaseException) -> None:
        """The library failed on this text: say so in the editor instead of going quiet."""
        doc = self._doc(uri)
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, version=doc[1] if doc else None, diagnostics=[lsp.Diagnostic(
                range=lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0)),
                message=f"lmp could not analyse this file (a bug in lmp, not in your program): "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                severity=lsp.DiagnosticSeverity.Error, source="lmp", code="internal")]))

    def _reanalyze_dependents(self, path: str, origin: str) -> None:
        for uri, a in list(self.analyses.items()):
            if uri != origin and path in a.loaded.files and a.path != path and self._doc(uri) is not None:
                self._dirty.add(uri)
                if uri not in self._tasks:
                    self._tasks[uri] = asyncio.ensure_future(self._run(uri, True))

    # ------------------------------------------------------------ diagnostics

    def to_lsp_diagnostic(self, d: Diagnostic, analysis: Analysis) -> lsp.Diagnostic:
        path = d.path or analysis.path
        lm = analysis.linemap(path, self.encoding)
        severity = {
            Severity.ERROR: lsp.DiagnosticSeverity.Error, Severity.WARNING: lsp.DiagnosticSeverity.Warning,
            Severity.INFO: lsp.DiagnosticSeverity.Information, Severity.HINT: lsp.DiagnosticSeverity.Hint,
        }.get(d.severity, lsp.DiagnosticSeverity.Error)
        tags = []
        if "unnecessary" in d.tags or (not d.tags and d.severity == Severity.WARNING
                                       and d.message.lower().startswith(("unused", "unreachable"))):
            tags.append(lsp.DiagnosticTag.Unnecessary)
        if "deprecated" in d.tags:
            tags.append(lsp.DiagnosticTag.Deprecated)
        related = []
        for r in d.related:
            rpath = r.path or path
            rlm = analysis.linemap(rpath, self.encoding) if rpath in analysis.loaded.files else lm
            related.append(lsp.DiagnosticRelatedInformation(
                location=lsp.Location(uri=path_to_uri(rpath), range=rlm.range(r.span)), message=r.message))
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        fixes = self.fixes_of(d)
        data = {"code": d.code, "hint": d.hint,
                "fixes": [{"title": f.title, "text": f.text, "range": _range_json(lm.range(f.span))} for f in fixes]}
        return lsp.Diagnostic(
            range=lm.range(d.span), message=message, severity=severity, code=d.code, source="lmp",
            code_description=_code_description(d.code), related_information=related or None,
            tags=tags or None, data=data)

    @staticmethod
    def fixes_of(d: Diagnostic) -> list[Fix]:
        if d.fixes:
            return list(d.fixes)
        m = _DID_YOU_MEAN.search(d.hint or "") or _DID_YOU_MEAN.search(d.message)
        if m and d.span.line == d.span.end_line and d.span.end > d.span.start:
            return [Fix(f"Change to `{m.group(1)}`", d.span, m.group(1))]
        return []

    def publish(self, analysis: Analysis) -> None:
        diags = [self.to_lsp_diagnostic(d, analysis) for d in analysis.loaded.diagnostics
                 if (d.path or analysis.path) == analysis.path]
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=analysis.uri, diagnostics=diags, version=analysis.version))

    # ------------------------------------------------------------ lookups

    def occurrence_at(self, analysis: Analysis, pos: lsp.Position) -> tuple[Occurrence | None, int]:
        lm = analysis.linemap(analysis.path, self.encoding)
        offset = lm.offset(pos)
        return analysis.index.at(offset), offset

    def workspace_indexes(self, analysis: Analysis | None = None) -> list[tuple[FileIndex, LineMap, str]]:
        """Indexes of every .lmp file we know: open buffers (with their imports) and workspace files."""
        out: dict[str, tuple[FileIndex, LineMap, str]] = {}
        enc = self.encoding
        analyses = list(self.analyses.values())
        if analysis is not None:
            analyses.insert(0, analysis)
        for a in analyses:
            for p, idx in a.indexes.items():
                if p == a.path or p not in out:
                    out.setdefault(p, (idx, a.linemap(p, enc), path_to_uri(p)))
        for p in self._workspace_files():
            if p in out:
                continue
            loaded = self._load_workspace_file(p)
            if loaded is None:
                continue
            prog = loaded.program
            try:
                out[p] = (FileIndex(prog, p), LineMap(prog.text, enc), path_to_uri(p))
            except Exception:  # noqa: BLE001
                log.exception("indexing %s failed", p)
        return list(out.values())

    def _workspace_files(self) -> list[str]:
        roots: list[str] = []
        try:
            ws = self.workspace
            for folder in (ws.folders or {}).values():
                roots.append(uri_to_path(folder.uri))
            if ws.root_path:
                roots.append(ws.root_path)
        except Exception:  # noqa: BLE001
            return []
        files: list[str] = []
        for root in dict.fromkeys(roots):
            if not root or not os.path.isdir(root) or root == os.path.expanduser("~") or root == "/":
                continue
            for dirpath, dirs, names in os.walk(root):
                dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__",
                                                                                  "venv", ".venv")]
                files.extend(os.path.abspath(os.path.join(dirpath, n)) for n in names if n.endswith(".lmp"))
                if len(files) >= WORKSPACE_FILE_LIMIT:
                    return files
        return files

    def _load_workspace_file(self, path: str) -> Any:
        from lmp.project import load_program

        try:
            st = os.stat(path)
        except OSError:
            return None
        # The workspace scan reads files nobody opened: a FIFO or device named *.lmp would block it, and
        # a file over the parser's limit would only be refused after being read whole.
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None
        mtime = st.st_mtime
        with self._ws_lock:
            hit = self._workspace_cache.get(path)
            if hit is not None and hit[0] == mtime:
                return hit[1]
        try:
            loaded = load_program(path, overlay=self.open_texts(), check=False)
        except Exception:  # noqa: BLE001
            log.exception("loading %s failed", path)
            return None
        with self._ws_lock:
            self._workspace_cache[path] = (mtime, loaded)
        return loaded

    def references(self, analysis: Analysis, key: tuple[str, ...], include_def: bool = True) -> list[
            tuple[str, lsp.Range, Occurrence]]:
        out: list[tuple[str, lsp.Range, Occurrence]] = []
        seen: set[tuple[str, int, int]] = set()
        for idx, lm, uri in self.workspace_indexes(analysis):
            for o in idx.occurrences:
                if o.key != key or (o.is_def and not include_def):
                    continue
                k = (uri, o.span.start, o.span.end)
                if k in seen:
                    continue
                seen.add(k)
                out.append((uri, lm.range(o.span), o))
        return out

    def definition_of(self, analysis: Analysis, occ: Occurrence) -> lsp.Location | None:
        key = occ.key
        if key[0] == "builtin":
            return None
        path = key[1] if len(key) > 1 else analysis.path
        idx = analysis.indexes.get(path)
        lm = analysis.linemap(path, self.encoding) if idx is not None else None
        if idx is None:
            for i2, lm2, _uri in self.workspace_indexes(analysis):
                if i2.path == path:
                    idx, lm = i2, lm2
                    break
        if idx is None or lm is None:
            return None
        d = idx.defs.get(key)
        if d is None:
            return None
        return lsp.Location(uri=path_to_uri(path), range=lm.range(d.span))

    # ------------------------------------------------------------ preview

    def state_path(self, program_path: str) -> str | None:
        configured = self.state_file or self.options.get("stateFile")
        if configured:
            p = configured
            if not os.path.isabs(p):
                base = None
                try:
                    base = self.workspace.root_path
                except Exception:  # noqa: BLE001
                    base = None
                p = os.path.join(base or os.path.dirname(program_path), p)
            return p if os.path.exists(p) else None
        stem = program_path[:-4] if program_path.endswith(".lmp") else program_path
        for candidate in (stem + ".state.json", program_path + ".state.json"):
            if os.path.exists(candidate):
                return candidate
        return None

    async def analysis_of(self, params: dict[str, Any]) -> Analysis:
        """The analysis of `params["uri"]`: the open buffer's, else the file's on disk."""
        uri = params.get("uri")
        if not uri:
            raise JsonRpcException("`uri` is required", code=-32602)
        analysis = await self.fresh(uri)
        if analysis is None:
            analysis = await self._analyze_closed(uri)
        return analysis

    async def preview_target(self, params: dict[str, Any]) -> tuple[Analysis, str]:
        analysis = await self.analysis_of(params)
        target = params.get("predictor")
        if not target:
            pos = params.get("position")
            if pos:
                lm = analysis.linemap(analysis.path, self.encoding)
                offset = lm.offset(lsp.Position(line=int(pos["line"]), character=int(pos["character"])))
                target = F.target_at(analysis.index, offset)
            if not target:
                targets = F.preview_targets(analysis.index)
                preds = [t for t, _ in targets if "." in t]
                target = (preds or [t for t, _ in targets] or [None])[0]
        if not target:
            raise JsonRpcException("no predictor or signature to preview here", code=REQUEST_FAILED)
        module = analysis.loaded.program.modules.get(target)
        if module is not None and module.predictors:
            target = module.predictors[0].id  # a module (the playground's run target): its first predictor
        return analysis, target

    async def _analyze_closed(self, uri: str) -> Analysis:
        path = uri_to_path(uri)
        if not os.path.exists(path):
            raise JsonRpcException(f"document not open and not on disk: {uri}", code=REQUEST_FAILED)
        from lmp.ir.project import read_source

        text = read_source(path)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._analyze_sync, uri, text, None, self.open_texts())

    async def preview(self, params: dict[str, Any]) -> dict[str, Any]:
        analysis, target = await self.preview_target(params)
        try:
            from lmp.runtime.preview import render_preview
        except ImportError as exc:
            raise JsonRpcException(f"prompt preview is not available in this lmp build ({exc})",
                                   code=REQUEST_FAILED) from exc
        if analysis.loaded.errors and not _target_exists(analysis.loaded.program, target):
            raise JsonRpcException(f"cannot preview `{target}`: the program has errors", code=REQUEST_FAILED)
        state = self.state_path(analysis.path)
        example = params.get("example")
        loop = asyncio.get_running_loop()
        try:
            pv = await loop.run_in_executor(
                self._executor, functools.partial(render_preview, analysis.loaded.program, target,
                                                  example=example, state=state))
        except JsonRpcException:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the editor, not raised
            log.exception("preview of %s failed", target)
            raise JsonRpcException(f"cannot preview `{target}`: {exc}", code=REQUEST_FAILED) from exc
        out = _preview_json(pv, target)
        # Counted here, not on the analysis thread: the first preview waits at most TOKENIZER_WAIT for the
        # model's tokenizer to load (then says "estimate"), holding no thread while it loads.
        from lmp.runtime.token_count import count_messages_async

        out["tokens"] = (await count_messages_async(out["messages"], out["model"], wait=TOKENIZER_WAIT,
                                                    tools=out["tools"])).to_json()
        return out

    async def output_schema(self, params: dict[str, Any]) -> dict[str, Any]:
        analysis, target = await self.preview_target(params)
        try:
            from lmp.runtime.preview import output_schema
        except ImportError as exc:
            raise JsonRpcException(f"output schemas are not available in this lmp build ({exc})",
                                   code=REQUEST_FAILED) from exc
        try:
            schema = output_schema(analysis.loaded.program, target)
        except Exception as exc:  # noqa: BLE001
            log.exception("output schema of %s failed", target)
            raise JsonRpcException(f"cannot build the output schema of `{target}`: {exc}",
                                   code=REQUEST_FAILED) from exc
        return {"predictor": target, "schema": schema}


def _target_exists(program: ir.Program, target: str) -> bool:
    if target in program.signatures:
        return program.signatures[target] is not None
    if target in program.predictors():
        return program.predictors()[target].signature is not None
    return any(p.name == target for p in program.predictors().values())


def _preview_json(pv: Any, target: str) -> dict[str, Any]:
    def get(name: str, default: Any = None) -> Any:
        if isinstance(pv, dict):
            return pv.get(name, default)
        return getattr(pv, name, default)

    sig = get("signature")
    if sig is not None and not isinstance(sig, str):
        sig = getattr(sig, "name", str(sig))
    messages = [dict(m) if not isinstance(m, dict) else m for m in (get("messages") or [])]
    state = get("state")
    if state is not None and not isinstance(state, str):
        state = str(getattr(state, "path", None) or state)
    model = get("model")
    if model is not None and not isinstance(model, str):
        model = str(getattr(model, "model", None) or model)
    example = get("example")
    if example is not None and not isinstance(example, str):
        example = str(getattr(example, "name", None) or example)
    return {"predictor": get("predictor_id") or get("predictor") or target, "signature": sig,
            "adapter": get("adapter"), "messages": messages, "example": example, "state": state, "model": model,
            "constraint": get("constraint"), "tools": get("tools"),
            "filled_at_run_time": get("filled_at_run_time") or {}}


def _range_json(r: lsp.Range) -> dict[str, Any]:
    return {"start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character}}


@functools.lru_cache(maxsize=1)
def _docs_uri() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    doc = os.path.normpath(os.path.join(here, "..", "..", "..", "docs", "diagnostics.md"))
    return path_to_uri(doc) if os.path.exists(doc) else None


def _code_description(code: str) -> lsp.CodeDescription | None:
    base = _docs_uri()
    return lsp.CodeDescription(href=f"{base}#{code.lower()}") if base else None


def _as_dict(obj: Any) -> Any:
    """pygls hands custom-request params over as namedtuples; turn them back into dicts."""
    if hasattr(obj, "_asdict"):
        return {k: _as_dict(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [_as_dict(v) for v in obj]
    if hasattr(obj, "__attrs_attrs__"):
        import cattrs

        return cattrs.unstructure(obj)
    return obj


# ---------------------------------------------------------------- handlers

server = None  # set by create_server()


def guarded(empty: Any = None, raise_errors: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Every handler: failures are logged and answered with `empty` (or an LSP error for custom requests)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if asyncio.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run(ls: LmpLanguageServer, *args: Any) -> Any:
                try:
                    return await fn(ls, *args)
                except JsonRpcException:
                    raise
                except Exception as exc:  # noqa: BLE001
                    log.exception("%s failed", fn.__name__)
                    if raise_errors:
                        raise JsonRpcException(f"{fn.__name__} failed: {exc}", code=REQUEST_FAILED) from exc
                    return empty() if callable(empty) else empty
        else:
            @functools.wraps(fn)
            def run(ls: LmpLanguageServer, *args: Any) -> Any:
                try:
                    return fn(ls, *args)
                except JsonRpcException:
                    raise
                except Exception as exc:  # noqa: BLE001
                    log.exception("%s failed", fn.__name__)
                    if raise_errors:
                        raise JsonRpcException(f"{fn.__name__} failed: {exc}", code=REQUEST_FAILED) from exc
                    return empty() if callable(empty) else empty
        return run

    return wrap


def create_server() -> LmpLanguageServer:
    ls = LmpLanguageServer()

    @ls.feature(lsp.INITIALIZE)
    @guarded()
    def initialize(ls: LmpLanguageServer, params: lsp.InitializeParams) -> None:
        opts = params.initialization_options or {}
        if hasattr(opts, "_asdict") or not isinstance(opts, dict):
            opts = _as_dict(opts) or {}
        ls.options = opts if isinstance(opts, dict) else {}
        if ls.options.get("stateFile"):
            ls.state_file = str(ls.options["stateFile"])
        if "debounceMs" in ls.options:
            ls.debounce = max(0.0, float(ls.options["debounceMs"]) / 1000)
            ls.debounce_fixed = True

    @ls.feature(lsp.SHUTDOWN)
    @guarded()
    def shutdown(ls: LmpLanguageServer, *args: Any) -> None:
        # Queued analyses and background indexing are for an editor that is leaving: drop them, so the
        # interpreter does not finish them (it joins executor threads at exit) before the process ends.
        for task in list(ls._tasks.values()):
            task.cancel()
        ls._executor.shutdown(wait=False, cancel_futures=True)

    @ls.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    @guarded()
    def did_change_configuration(ls: LmpLanguageServer, params: lsp.DidChangeConfigurationParams) -> None:
        settings = _as_dict(params.settings) or {}
        lmp_settings = settings.get("lmp", settings) if isinstance(settings, dict) else {}
        if isinstance(lmp_settings, dict) and lmp_settings.get("stateFile"):
            ls.state_file = str(lmp_settings["stateFile"])

    @ls.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    @guarded()
    def did_open(ls: LmpLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, immediate=True)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    @guarded()
    def did_change(ls: LmpLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    @guarded()
    def did_save(ls: LmpLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls._workspace_cache.pop(uri_to_path(params.text_document.uri), None)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    @guarded()
    def did_close(ls: LmpLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyses.pop(uri, None)
        ls._analysis_seconds.pop(uri, None)
        ls._dirty.discard(uri)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @ls.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    @guarded()
    def did_change_watched(ls: LmpLanguageServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        for ch in params.changes:
            ls._workspace_cache.pop(uri_to_path(ch.uri), None)
        for uri in list(ls.analyses):
            ls.schedule(uri)

    @ls.feature(lsp.TEXT_DOCUMENT_HOVER)
    @guarded()
    async def hover(ls: LmpLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return None
        occ, _ = ls.occurrence_at(a, params.position)
        if occ is None:
            return None
        text = F.hover_text(occ, a.index, a.loaded.files)
        if not text:
            return None
        lm = a.linemap(a.path, ls.encoding)
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text), range=lm.range(occ.span))

    # No " ": a popup on every space in a body was noise; words open it as the user types them.
    @ls.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=list(F.TRIGGER_CONTEXTS)))
    @guarded(empty=lambda: lsp.CompletionList(is_incomplete=False, items=[]))
    async def completion(ls: LmpLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return lsp.CompletionList(is_incomplete=False, items=[])
        lm = a.linemap(a.path, ls.encoding)
        offset = lm.offset(params.position)
        ctx = params.context
        trigger = ctx.trigger_character if ctx is not None and \
            ctx.trigger_kind == lsp.CompletionTriggerKind.TriggerCharacter else None
        items = F.completions(a.index, a.text, offset, trigger)
        return lsp.CompletionList(is_incomplete=False, items=items)

    @ls.feature(lsp.TEXT_DOCUMENT_SIGNATURE_HELP, lsp.SignatureHelpOptions(trigger_characters=["(", ","],
                                                                      retrigger_characters=[":"]))
    @guarded()
    async def signature_help(ls: LmpLanguageServer, params: lsp.SignatureHelpParams) -> lsp.SignatureHelp | None:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return None
        lm = a.linemap(a.path, ls.encoding)
        return F.signature_help(a.index, a.text, lm.offset(params.position))

    @ls.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    @guarded()
    async def definition(ls: LmpLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return None
        occ, _ = ls.occurrence_at(a, params.position)
        if occ is None:
            offset = a.linemap(a.path, ls.encoding).offset(params.position)
            return _import_at(a, offset) or _python_target_at(a, offset)
        return ls.definition_of(a, occ)

    @ls.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    @guarded(empty=list)
    async def references(ls: LmpLanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return []
        occ, _ = ls.occurrence_at(a, params.position)
        if occ is None or occ.key[0] == "builtin":
            return []
        refs = ls.references(a, occ.key, include_def=params.context.include_declaration)
        return [lsp.Location(uri=u, range=r) for u, r, _ in refs]

    @ls.feature(lsp.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT)
    @guarded(empty=list)
    async def highlight(ls: LmpLanguageServer, params: lsp.DocumentHighlightParams) -> list[lsp.DocumentHighlight]:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return []
        occ, _ = ls.occurrence_at(a, params.position)
        if occ is None:
            return []
        lm = a.linemap(a.path, ls.encoding)
        return [lsp.DocumentHighlight(range=lm.range(o.span),
                                    kind=lsp.DocumentHighlightKind.Write if o.is_def else lsp.DocumentHighlightKind.Read)
                for o in a.index.occurrences if o.key == occ.key]

    @ls.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    @guarded()
    async def prepare_rename(ls: LmpLanguageServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return None
        occ, _ = ls.occurrence_at(a, params.position)
        if occ is None or occ.key[0] in ("builtin", "member", "import", "example"):
            return None
        return a.linemap(a.path, ls.encoding).range(occ.span)

    @ls.feature(lsp.TEXT_DOCUMENT_RENAME)
    @guarded()
    async def rename(ls: LmpLanguageServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return None
        new = params.new_name.strip()
        if not _IDENT.match(new) or new in _RESERVED:
            raise JsonRpcException(f"`{params.new_name}` is not a valid name", code=REQUEST_FAILED)
        occ, _ = ls.occurrence_at(a, params.position)
        if occ is None or occ.key[0] in ("builtin", "member", "import", "example"):
            raise JsonRpcException("nothing to rename here", code=REQUEST_FAILED)
        changes: dict[str, list[lsp.TextEdit]] = {}
        for uri, rng, _o in ls.references(a, occ.key, include_def=True):
            changes.setdefault(uri, []).append(lsp.TextEdit(range=rng, new_text=new))
        return lsp.WorkspaceEdit(changes=changes)

    @ls.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded(empty=list)
    async def document_symbol(ls: LmpLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return []
        return F.document_symbols(a.index, a.linemap(a.path, ls.encoding))

    @ls.feature(lsp.WORKSPACE_SYMBOL)
    @guarded(empty=list)
    async def workspace_symbol(ls: LmpLanguageServer, params: lsp.WorkspaceSymbolParams) -> list[lsp.SymbolInformation]:
        query = params.query.lower()
        loop = asyncio.get_running_loop()
        indexes = await loop.run_in_executor(ls._executor, ls.workspace_indexes)
        out: list[lsp.SymbolInformation] = []
        for idx, lm, uri in indexes:
            for sym in F.document_symbols(idx, lm):
                for s, container in [(sym, None)] + [(c, sym.name) for c in (sym.children or [])]:
                    if query and query not in s.name.lower():
                        continue
                    out.append(lsp.SymbolInformation(name=s.name, kind=s.kind, container_name=container,
                                                   location=lsp.Location(uri=uri, range=s.selection_range)))
                    if len(out) >= 500:
                        return out
        return out

    @ls.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
                lsp.SemanticTokensLegend(token_types=F.TOKEN_TYPES, token_modifiers=F.TOKEN_MODIFIERS))
    @guarded(empty=lambda: lsp.SemanticTokens(data=[]))
    async def semantic_tokens(ls: LmpLanguageServer, params: lsp.SemanticTokensParams) -> lsp.SemanticTokens:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return lsp.SemanticTokens(data=[])
        return lsp.SemanticTokens(data=F.semantic_tokens(a.index, a.linemap(a.path, ls.encoding)))

    @ls.feature(lsp.TEXT_DOCUMENT_INLAY_HINT, lsp.InlayHintOptions(resolve_provider=False))
    @guarded(empty=list)
    async def inlay_hint(ls: LmpLanguageServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return []
        lm = a.linemap(a.path, ls.encoding)
        return F.inlay_hints(a.index, lm, lm.offset(params.range.start), lm.offset(params.range.end))

    @ls.feature(lsp.TEXT_DOCUMENT_FOLDING_RANGE)
    @guarded(empty=list)
    async def folding(ls: LmpLanguageServer, params: lsp.FoldingRangeParams) -> list[lsp.FoldingRange]:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return []
        return F.folding_ranges(a.index, a.linemap(a.path, ls.encoding))

    @ls.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    @guarded()
    async def formatting(ls: LmpLanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        doc = ls._doc(params.text_document.uri)
        if doc is None:
            return None
        text = doc[0]
        try:
            from lmp.fmt import FormatError, format_source
        except ImportError as exc:
            raise JsonRpcException(f"the formatter is not available in this lmp build ({exc})",
                                   code=REQUEST_FAILED) from exc
        loop = asyncio.get_running_loop()
        try:
            out = await loop.run_in_executor(ls._executor, format_source, text, uri_to_path(params.text_document.uri))
        except FormatError as exc:
            ls.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Warning, message=f"lmp fmt: {exc}"))
            return None
        if out == text:
            return []
        return [lsp.TextEdit(range=LineMap(text, ls.encoding).full_range(), new_text=out)]

    @ls.feature(lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
    @guarded(empty=list)
    async def code_action(ls: LmpLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return []
        lm = a.linemap(a.path, ls.encoding)
        lo, hi = lm.offset(params.range.start), lm.offset(params.range.end)
        actions: list[lsp.CodeAction] = []
        for d in a.loaded.diagnostics:
            if (d.path or a.path) != a.path or d.span.end < lo or d.span.start > hi:
                continue
            fixes = ls.fixes_of(d)
            if not fixes:
                continue
            ld = ls.to_lsp_diagnostic(d, a)
            for i, fx in enumerate(fixes):
                edit = lsp.WorkspaceEdit(changes={a.uri: [lsp.TextEdit(range=lm.range(fx.span), new_text=fx.text)]})
                actions.append(lsp.CodeAction(title=fx.title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[ld],
                                            edit=edit, is_preferred=(i == 0 and len(fixes) == 1)))
        return actions

    @ls.feature(lsp.TEXT_DOCUMENT_CODE_LENS, lsp.CodeLensOptions(resolve_provider=False))
    @guarded(empty=list)
    async def code_lens(ls: LmpLanguageServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        a = await ls.fresh(params.text_document.uri)
        if a is None:
            return []
        lm = a.linemap(a.path, ls.encoding)
        out = []
        for target, span in F.preview_targets(a.index):
            out.append(lsp.CodeLens(range=lm.range(span), command=lsp.Command(
                title="Preview prompt", command="lmp.previewPrompt", arguments=[a.uri, target])))
        from lmp.lsp import playground

        try:
            out.extend(playground.code_lenses(a.loaded.program, a.path, a.uri, lm))
        except Exception:  # noqa: BLE001 - the preview lenses still show
            log.exception("run lenses failed")
        return out

    from lmp.lsp.playground import register as register_playground

    register_playground(ls, guarded, _as_dict)

    @ls.feature("lmp/previewPrompt")
    @guarded(raise_errors=True)
    async def preview_prompt(ls: LmpLanguageServer, params: Any) -> dict[str, Any]:
        return await ls.preview(_as_dict(params) or {})

    @ls.feature("lmp/outputSchema")
    @guarded(raise_errors=True)
    async def output_schema(ls: LmpLanguageServer, params: Any) -> dict[str, Any]:
        return await ls.output_schema(_as_dict(params) or {})

    @ls.command("lmp.previewPrompt")
    @guarded(raise_errors=True)
    async def preview_command(ls: LmpLanguageServer, *args: Any) -> dict[str, Any]:
        args = tuple(_as_dict(a) for a in args)
        if len(args) == 1 and isinstance(args[0], dict):
            return await ls.preview(args[0])
        if not args:
            raise JsonRpcException("lmp.previewPrompt needs [uri, predictorId]", code=-32602)
        params = {"uri": args[0], "predictor": args[1] if len(args) > 1 else None}
        if len(args) > 2 and isinstance(args[2], str):
            params["example"] = args[2]
        return await ls.preview(params)

    @ls.command("lmp.outputSchema")
    @guarded(raise_errors=True)
    async def schema_command(ls: LmpLanguageServer, *args: Any) -> dict[str, Any]:
        args = tuple(_as_dict(a) for a in args)
        if len(args) == 1 and isinstance(args[0], dict):
            return await ls.output_schema(args[0])
        if not args:
            raise JsonRpcException("lmp.outputSchema needs [uri, predictorId]", code=-32602)
        return await ls.output_schema({"uri": args[0], "predictor": args[1] if len(args) > 1 else None})

    return ls


def _import_at(a: Analysis, offset: int) -> lsp.Location | None:
    for d in a.index.program.imports:
        if d.name_span.start <= offset <= d.name_span.end and d.resolved:
            return lsp.Location(uri=path_to_uri(d.resolved), range=lsp.Range(
                start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0)))
    return None


def _python_target_at(a: Analysis, offset: int) -> lsp.Location | None:
    """`"pkg.mod:fn"` of a tool or retriever: the Python function (found without importing it)."""
    from lmp.lsp.pytarget import locate, target_at

    target = target_at(a.index.program, offset)
    found = locate(target, a.path) if target else None
    if found is None:
        return None
    return lsp.Location(uri=path_to_uri(found.path), range=lsp.Range(
        start=lsp.Position(line=found.line, character=found.col),
        end=lsp.Position(line=found.line, character=found.end_col)))


def serve(transport: str = "stdio", host: str = "127.0.0.1", port: int = 2087) -> NoReturn:
    """Run the language server as this process until the client says `exit`; then the process ends."""
    import gc

    ls = create_server()
    # Analysis allocates many short-lived objects; fewer young-generation collections cut the tail latency.
    # 100k (measured against 50k and 200k, bench/lsp_latency.py): 2,000-line didChange p95 ~72 ms vs ~120,
    # same memory; the slowest typing burst got somewhat slower (bench/README.md), 200k made it worse.
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 100)
    try:
        if transport == "tcp":
            ls.start_tcp(host, port)
        else:
            ls.start_io()
    finally:
        # On `exit`, pygls closes stdout's buffer; the CLI's final flush then failed, and the server
        # exited with status 1 ("I/O operation on closed file") even after a proper shutdown.
        if sys.stdout is not None and sys.stdout.closed:
            sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives until exit
    # LSP: exit status 0 when `shutdown` came before `exit`, 1 otherwise (pygls's sys.exit is swallowed).
    code = 0 if transport == "tcp" or getattr(ls.protocol, "_shutdown", False) else 1
    # This function is the process (`lmp lsp`). After a long session the interpreter's own teardown
    # (freeing every parse tree and index, one object at a time) took 1-3 s after `exit` (measured with
    # bench/lsp_soak.py: atexit ran 20 ms after shutdown, the process ended ~1 s later); editors wait
    # for it. The logs are flushed and the OS reclaims the memory at once.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
