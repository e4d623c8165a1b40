"""The editor playground: run a module, a signature or an `example` block from the editor, through the
language server (`lmp/run`), with work-done progress, cancellation and the results an editor shows next
to the prompt (typed outputs, tokens, latency, cost, cache hits, the request as cURL, a diff against the
previous run of the same target).

Nothing here runs on its own: opening or editing a file never runs user code; only an explicit
`lmp/run` request does (a code lens click, a Testing-view run, a command). Runs go one at a time on a
thread of their own (the model is the bottleneck, and the local one serves one request at a time), so
the analysis thread and the event loop keep answering while a slow model works.

Results never hold a key: the cURL names the variable the key is read from (`$OPENAI_API_KEY`), and
every text passes through `lmp.secrets.scrub`.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from lmp.diagnostics import Span
from lmp.ir import nodes as ir
from lmp.secrets import scrub, scrub_data

log = logging.getLogger("lmp.lsp.playground")

RUNS_KEPT = 10
KINDS = ("module", "signature", "example", "test")
_run_ids = itertools.count(1)


class PlaygroundError(Exception):
    """A run that cannot start (unknown target, bad inputs, program errors): shown to the user as is."""


# ---------------------------------------------------------------- run targets (code lenses)


@dataclass
class RunTarget:
    kind: str  # module | signature | example | test
    name: str  # module/signature name, example name, test name
    span: Span  # where the lens goes (the declaration's name)
    target: str  # what runs: the module or signature (for examples and tests, their target)
    inputs: list[dict[str, str]] = field(default_factory=list)  # [{name, type}] of what runs
    has_inputs: bool = False  # an example (or a test) supplies the inputs

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "target": self.target, "inputs": self.inputs,
                "hasInputs": self.has_inputs}


def _params_of(program: ir.Program, target: str) -> list[dict[str, str]]:
    mod = program.modules.get(target)
    if mod is not None:
        return [{"name": p.name, "type": p.type.render()} for p in mod.params]
    sig = program.signatures.get(target)
    if sig is not None:
        return [{"name": f.name, "type": f.type.render()} for f in sig.inputs]
    return []


def runnable_target(program: ir.Program, name: str) -> str | None:
    """The module or signature an example/test target names (a predictor id `M.p` runs its signature)."""
    mod = program.modules.get(name)
    if mod is not None and not mod.is_metric:
        return name
    if name in program.signatures:
        return name
    preds = program.predictors()
    pred = preds.get(name) or next((p for p in preds.values() if p.name == name), None)
    if pred is not None and pred.signature is not None:
        if pred.signature_ref and pred.signature_ref in program.signatures:
            return pred.signature_ref
        return None
    return None


def run_targets(program: ir.Program, path: str) -> list[RunTarget]:
    """Every module, signature and example (and test block, when the language has them) declared in
    `path`, with what it needs to run. Pure: reads the IR only."""
    out: list[RunTarget] = []
    examples = [d for d in program.decls if isinstance(d, ir.Example) and d.path in (None, path)]
    example_targets = {runnable_target(program, ex.target) for ex in examples}
    for d in program.decls:
        if d.path not in (None, path) or d.syntax_error:
            continue
        if isinstance(d, ir.Module) and not d.is_metric:
            out.append(RunTarget("module", d.name, d.name_span, d.name, _params_of(program, d.name),
                                 has_inputs=d.name in example_targets))
        elif isinstance(d, ir.Signature) and not d.inline:
            out.append(RunTarget("signature", d.name, d.name_span, d.name, _params_of(program, d.name),
                                 has_inputs=d.name in example_targets))
        elif isinstance(d, ir.Example):
            target = runnable_target(program, d.target)
            if target is not None:
                out.append(RunTarget("example", d.name, d.name_span, target, _params_of(program, target),
                                     has_inputs=True))
    for case in _test_cases(program, path):
        out.append(case)
    return out


def _test_cases(program: ir.Program, path: str) -> list[RunTarget]:
    """The file's `test` blocks (lmp.runtime.testing.discover)."""
    from lmp.runtime import testing

    out: list[RunTarget] = []
    try:
        cases = testing.discover(program)
    except Exception:  # noqa: BLE001 - a lens list never fails because of one bad test block
        log.exception("discovering tests failed")
        return []
    for case in cases:
        if case.path not in (None, path):
            continue
        span = case.block.name_span if case.block.name_span.end > case.block.name_span.start else case.span
        out.append(RunTarget("test", case.name, span, case.target, _params_of(program, case.target),
                             has_inputs=True))
    return out


# ---------------------------------------------------------------- the request as cURL


def _key_variable(lm: Any, model: str) -> str | None:
    """The environment variable the key would come from, named instead of the key itself."""
    from lmp.runtime.lm.openai_http import is_loopback

    api_base = getattr(lm, "api_base", None)
    if api_base and is_loopback(api_base):
        return None  # local servers take no key (lmp sends a placeholder)
    if getattr(lm, "_api_key", None):
        return "LMP_API_KEY"  # given in the model's params: the user knows where it lives
    if api_base:
        return "OPENAI_API_KEY"  # what lmp sends to any OpenAI-compatible endpoint
    from lmp.runtime.lm.litellm_lm import key_env_var

    return key_env_var(model)


_HOSTED_BASES = {
    "openai": "https://api.openai.com/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together_ai": "https://api.together.xyz/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "mistral": "https://api.mistral.ai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "fireworks_ai": "https://api.fireworks.ai/inference/v1",
}


def build_curl(lm: Any, messages: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    """{curl, note} for one request as `lm` would send it (non-streamed). The key is never read: the
    header names its variable (`Authorization: Bearer $OPENAI_API_KEY`)."""
    from lmp.runtime.lm.litellm_lm import provider_of
    from lmp.runtime.lm.openai_http import _CLIENT_KEYS, is_openai_compatible, served_name
    from lmp.runtime.lm.transcript import flatten_messages, merge_stop

    model = str(getattr(lm, "model", "") or "")
    api_base = getattr(lm, "api_base", None)
    chat = getattr(lm, "model_type", "chat") == "chat"
    note = None
    if api_base and is_openai_compatible(model):
        base, name = api_base, served_name(model)
    else:
        provider = provider_of(model)
        base = api_base or _HOSTED_BASES.get(provider)
        name = model.split("/", 1)[1] if "/" in model and provider in _HOSTED_BASES else model
        if base is None:
            base = f"https://<{provider} endpoint>"
            note = (f"{model} is called through litellm, which translates this OpenAI-style request into "
                    f"{provider}'s own API")
        elif provider != "openai" or api_base:
            note = "sent through litellm; shown as the OpenAI-compatible request it makes"
    body: dict[str, Any] = {k: v for k, v in request.items() if k not in _CLIENT_KEYS and v is not None}
    body["model"] = name
    if chat:
        body["messages"] = messages
        path = "/chat/completions"
    else:
        body["prompt"] = flatten_messages(messages)  # type: ignore[arg-type]
        body["stop"] = merge_stop(body.get("stop"))
        path = "/completions"
    body.pop("stream", None)
    body.pop("stream_options", None)
    url = base.rstrip("/") + path
    lines = [f"curl {_sq(url)}", f"-H {_sq('Content-Type: application/json')}"]
    var = _key_variable(lm, model)
    if var:
        # Double quotes so the shell expands the variable; its name is the only thing shown.
        lines.append(f'-H "Authorization: Bearer ${var}"')
    payload = json.dumps(scrub_data(body), ensure_ascii=False, indent=2)
    lines.append(f"-d {_sq(payload)}")
    return {"curl": scrub(" \\\n  ".join(lines)), "note": note, "url": scrub(url), "keyVariable": var}


def _sq(text: str) -> str:
    """Single-quoted for a POSIX shell, whatever the text holds."""
    return "'" + text.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------- runs


@dataclass
class Run:
    """One finished run (what `lmp/run` returns and the server keeps, the last RUNS_KEPT per target)."""

    id: int
    key: str
    data: dict[str, Any]


class Playground:
    """Runs and their history for one language-server session."""

    def __init__(self, keep: int = RUNS_KEPT) -> None:
        from lmp.runtime.lm.history import History

        self.keep = keep
        self.runs: dict[str, deque[Run]] = {}
        # The session's calls (bounded in memory; each run collects its own with observe_calls), also
        # appended to the history.jsonl `lmp history` reads, tagged as playground runs.
        self.history = History(_history_file(), max_records=1000, source="playground")
        self._lock = threading.Lock()
        self._busy = threading.Lock()  # one run at a time

    # -------------------------------------------------------------- history

    def previous(self, key: str) -> Run | None:
        with self._lock:
            runs = self.runs.get(key)
            return runs[-1] if runs else None

    def remember(self, run: Run) -> None:
        with self._lock:
            self.runs.setdefault(run.key, deque(maxlen=self.keep)).append(run)

    def listing(self, key: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for k, runs in self.runs.items():
                if key is not None and k != key:
                    continue
                if path is not None and not k.startswith(path + "::"):
                    continue
                out.extend(r.data for r in runs)
        return sorted(out, key=lambda d: d["id"])

    # -------------------------------------------------------------- preparing a run

    @staticmethod
    def key_of(path: str, kind: str, name: str) -> str:
        return f"{path}::{kind}:{name}"

    def prepare(self, program: ir.Program, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """What to run: {kind, name, target, inputs (typed), expected, key}. Raises PlaygroundError."""
        kind = str(params.get("kind") or "")
        name = str(params.get("name") or params.get("target") or "")
        if kind and kind not in KINDS:
            raise PlaygroundError(f"unknown run kind `{kind}`; one of: {', '.join(KINDS)}")
        if not name:
            raise PlaygroundError("say what to run: `name` (a module, signature, example or test)")
        if not kind:
            kind = ("module" if name in program.modules else "signature" if name in program.signatures
                    else "example" if any(e.name == name for e in program.examples) else "module")
        expected: dict[str, Any] = {}
        given: dict[str, Any] = {}
        if kind == "example":
            ex = next((e for e in program.examples if e.name == name and e.path in (None, path)), None)
            if ex is None:
                raise PlaygroundError(f"no example `{name}` in {os.path.basename(path)}")
            target = runnable_target(program, ex.target)
            if target is None:
                raise PlaygroundError(f"example `{name}`: `{ex.target}` is not a module or signature that can run")
            given, expected = self._example_values(program, ex, target)
        elif kind == "test":
            from lmp.runtime import testing

            if not any(t.name == name for t in testing.discover(program)):
                raise PlaygroundError(f"no test `{name}` in {os.path.basename(path)}")
            return {"kind": "test", "name": name, "names": [name], "target": "", "inputs": {}, "expected": {},
                    "key": self.key_of(path, "test", name)}
        else:
            target = name
            if kind == "module" and (name not in program.modules or program.modules[name].is_metric):
                raise PlaygroundError(f"no module `{name}` in {os.path.basename(path)}")
            if kind == "signature" and name not in program.signatures:
                raise PlaygroundError(f"no signature `{name}` in {os.path.basename(path)}")
        inputs = params.get("inputs")
        if isinstance(inputs, dict) and inputs:
            given = {**given, **inputs}
        elif not given:
            prev = self.previous(self.key_of(path, kind, name))
            if prev is not None:
                given = dict(prev.data.get("inputs") or {})
            else:
                found = self._default_example(program, target)
                if found is not None:
                    given = found
        typed = self._typed_inputs(program, target, given)
        return {"kind": kind, "name": name, "target": target, "inputs": typed, "expected": expected,
                "key": self.key_of(path, kind, name)}

    @staticmethod
    def _example_values(program: ir.Program, ex: ir.Example, target: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from lmp.ir.lower import constant

        ins = {p["name"] for p in _params_of(program, target)}
        given: dict[str, Any] = {}
        expected: dict[str, Any] = {}
        for kv in ex.values:
            try:
                value = constant(kv.value)
            except ValueError:
                continue
            (given if kv.name in ins else expected)[kv.name] = value
        return given, expected

    def _default_example(self, program: ir.Program, target: str) -> dict[str, Any] | None:
        """Inputs from the first example of the target (or of a signature whose inputs the module takes)."""
        ins = {p["name"] for p in _params_of(program, target)}
        for ex in program.examples:
            if runnable_target(program, ex.target) == target:
                return self._example_values(program, ex, target)[0]
        for ex in program.examples:
            given = self._example_values(program, ex, target)[0]
            if ins and set(given) >= ins:
                return {k: v for k, v in given.items() if k in ins}
        return None

    @staticmethod
    def _typed_inputs(program: ir.Program, target: str, given: dict[str, Any]) -> dict[str, Any]:
        """Inputs read by their declared types: text typed into the editor is parsed like `lmp run -i`."""
        from lmp.runtime.inputs import InputValueError, parse_cli_value

        params = {p.name: p.type for p in (program.modules[target].params if target in program.modules
                                            else [ir.Param(f.name, f.type) for f in program.signatures[target].inputs])}
        unknown = sorted(set(given) - set(params))
        if unknown:
            raise PlaygroundError(f"`{target}` has no input {', '.join(f'`{u}`' for u in unknown)}; "
                                  f"its inputs: {', '.join(params) or '(none)'}")
        out: dict[str, Any] = {}
        for name, value in given.items():
            t = params[name]
            if isinstance(value, str) and t.render() not in ("str", "str?"):
                try:
                    value = parse_cli_value(value, t, name)
                except InputValueError as exc:
                    raise PlaygroundError(str(exc)) from None
            out[name] = value
        missing = [n for n, p in params.items() if n not in out and _required(program, target, n)]
        if missing:
            raise PlaygroundError(
                f"`{target}` needs input {', '.join(f'`{m}`' for m in missing)} "
                f"({', '.join(f'{m}: {params[m].render()}' for m in missing)}); give `inputs` or add an "
                f"`example {target} {{ ... }}` block")
        return out

    # -------------------------------------------------------------- running

    def execute(self, program: ir.Program, plan: dict[str, Any], *, state: Any, models: dict[str, str] | None,
                no_cache: bool, emit: Any, cancelled: threading.Event, started: threading.Event | None = None) -> dict[str, Any]:
        """Run `plan` (from `prepare`) on this thread; returns the result (also kept in the history).
        `emit(message, percentage)` reports progress; `cancelled` set from another thread stops the run
        at the model's next chunk."""
        from lmp.runtime import settings
        from lmp.runtime.interpreter import Interpreter
        from lmp.runtime.lm import wiretap
        from lmp.runtime.lm.history import observe_calls, tag_calls
        from lmp.runtime.streaming import StreamCancelled, StreamedRun

        with self._busy:
            if started is not None:
                started.set()
            if cancelled.is_set():
                raise StreamCancelled
            requests: list[Any] = []
            tap = _tap(requests, emit)

            overrides: dict[str, Any] = {"history": self.history}
            if models:
                overrides["models"] = dict(models)
            if no_cache:
                overrides["cache"] = False
            t0 = time.perf_counter()
            error: dict[str, Any] | None = None
            values: dict[str, Any] = {}
            last_partial = [0.0]

            def on_partial(p: Any) -> None:
                now = time.perf_counter()
                if now - last_partial[0] < 0.1:  # at most 10 reports a second
                    return
                last_partial[0] = now
                shown = {k: v for k, v in p.model_dump().items() if v is not None}
                text = ", ".join(f"{k}={_short(v)}" for k, v in shown.items()) or "waiting for the model…"
                emit(f"{p.predictor or plan['target']}: {text}", None)

            # The first model call may start the embedded model (seconds): say so before it blocks.
            emit(f"{plan['target']}: preparing the model call (a local model starts on first use)…", None)
            with settings.context(**overrides), wiretap.observe(tap), observe_calls() as records, \
                    tag_calls(run=f"{plan['kind']} {plan['name']}", file=program.path):
                interp = Interpreter(program, state)
                try:
                    run = StreamedRun(interp, plan["target"], plan["inputs"], on_partial)
                except Exception as exc:  # noqa: BLE001 - bad inputs: reported as the run's error
                    raise PlaygroundError(scrub(str(exc))) from None
                done = threading.Event()
                watcher = threading.Thread(target=_cancel_when, args=(cancelled, done, run), daemon=True)
                watcher.start()
                try:
                    result = run.run()
                    values = result.model_dump()
                except StreamCancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - the run's error is a result, not a crash
                    error = {"type": type(exc).__name__, "message": scrub(str(exc))}
                finally:
                    done.set()
            if cancelled.is_set():
                raise StreamCancelled
            elapsed = time.perf_counter() - t0
            return self._result(program, plan, values, error, records, requests, elapsed)

    def execute_tests(self, program: ir.Program, path: str, names: list[str] | None, *, state: Any,
                      models: dict[str, str] | None, no_cache: bool, emit: Any, cancelled: threading.Event,
                      to_range: Any, on_result: Any = None, started: threading.Event | None = None,
                      ) -> list[dict[str, Any]]:
        """Run the file's test blocks (all, or those named) one after the other through
        lmp.runtime.testing; each result (a run like `execute`'s, plus its expectations with their
        ranges) is kept in the history and handed to `on_result` as soon as it is ready."""
        from lmp.runtime import settings, testing
        from lmp.runtime.interpreter import Interpreter
        from lmp.runtime.lm import wiretap
        from lmp.runtime.lm.history import observe_calls

        with self._busy:
            if started is not None:
                started.set()
            cases = [c for c in testing.discover(program) if c.path in (None, path)]
            if names:
                wanted = set(names)
                cases = [c for c in cases if c.name in wanted]
                unknown = wanted - {c.name for c in cases}
                if unknown:
                    raise PlaygroundError(f"no test {', '.join(f'`{n}`' for n in sorted(unknown))} in "
                                          f"{os.path.basename(path)}")
            requests: list[Any] = []
            out: list[dict[str, Any]] = []
            mark = [0, 0]
            tap = _tap(requests, emit)
            calls: list[Any] = []

            def done(res: Any) -> None:
                own = getattr(res, "records", None)  # the runner's own record of the test's calls
                records = list(own) if own is not None else calls[mark[0]:]
                reqs = requests[mark[1]:]
                mark[0], mark[1] = len(calls), len(requests)
                data = self._test_result(program, path, res, records, reqs, to_range)
                out.append(data)
                following = f"; running {cases[len(out)].name}…" if len(out) < len(cases) else ""
                emit(f"{len(out)}/{len(cases)} {res.name}: {res.status}{following}",
                     int(100 * len(out) / max(1, len(cases))))
                if on_result is not None:
                    on_result(data)

            overrides: dict[str, Any] = {"history": self.history}
            if no_cache:
                overrides["cache"] = False
            if cases:
                emit(f"running {cases[0].name} (a local model starts on first use)…", 0)
            with settings.context(**overrides), wiretap.observe(tap), observe_calls() as observed:
                calls = observed
                interp = Interpreter(program, state)
                # One at a time: each result's calls and requests are the ones made since the last result.
                testing.run_tests(interp, cases, models=models or None, concurrency=1, on_result=done,
                                  cancel=cancelled)
            return out

    def _test_result(self, program: ir.Program, path: str, res: Any, records: list[Any],
                     requests: list[Any], to_range: Any) -> dict[str, Any]:
        plan = {"kind": "test", "name": res.name, "target": res.target, "inputs": res.case.inputs,
                "expected": {}, "key": self.key_of(path, "test", res.name)}
        error = {"type": "TestError", "message": scrub(res.error)} if res.error and res.status == "error" else None
        values = res.outputs or {}
        extra = {
            "status": res.status,
            "expectations": [{"kind": e.kind, "source": scrub(e.source), "passed": e.passed,
                              "message": scrub(e.message), "range": to_range(e.span)} for e in res.expectations],
            "range": to_range(res.case.block.name_span),
        }
        return self._result(program, plan, values, error, records, requests, res.latency_ms / 1000, extra)

    def _result(self, program: ir.Program, plan: dict[str, Any], values: dict[str, Any], error: dict[str, Any] | None,
                records: list[Any], taps: list[Any], elapsed: float,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
        # Built now, not when the call began: the embedded model's address is known only once it started.
        requests = [build_curl(*t) for t in taps]
        out_types = _output_types(program, plan["target"])
        outputs = [{"name": k, "type": out_types.get(k), "value": scrub_data(v)} for k, v in values.items()]
        calls = []
        for i, r in enumerate(records):
            calls.append({
                "predictor": r.predictor, "model": scrub(str(r.model)), "promptTokens": r.prompt_tokens,
                "completionTokens": r.completion_tokens, "cost": r.cost, "latencyMs": round((r.latency_s or 0) * 1000, 1),
                "cached": bool(r.cached), "finishReason": r.finish_reason,
                "attempt": (r.tags or {}).get("attempt", "first"),
                "response": scrub(r.response) if r.response is not None else None,
                "error": scrub(r.error) if r.error else None,
                "curl": requests[i]["curl"] if i < len(requests) else None,
                "curlNote": requests[i]["note"] if i < len(requests) else None,
            })
        if error is not None:
            raw = next((c["response"] for c in reversed(calls) if c["response"] is not None), None)
            error["rawOutput"] = raw
            error["predictor"] = calls[-1]["predictor"] if calls else None
        prompt = sum(c["promptTokens"] for c in calls)
        completion = sum(c["completionTokens"] for c in calls)
        expected = plan.get("expected") or {}
        checks = [{"name": k, "expected": scrub_data(v), "actual": scrub_data(values.get(k)),
                   "passed": k in values and values.get(k) == v} for k, v in expected.items()]
        curl = next((c["curl"] for c in calls if c["curl"]), None)
        curl_note = None
        if curl is None and calls:
            curl_note = f"{calls[0]['model']} is not called over HTTP (a scripted or in-process model): no request to copy"
        elif calls:
            curl_note = next((c["curlNote"] for c in calls if c["curl"]), None)
        run_id = next(_run_ids)
        data: dict[str, Any] = {
            "id": run_id, "key": plan["key"], "kind": plan["kind"], "name": plan["name"], "target": plan["target"],
            "status": "error" if error else ("fail" if any(not c["passed"] for c in checks) else "ok"),
            "inputs": scrub_data(plan["inputs"]), "outputs": outputs, "expected": checks or None,
            "tokens": {"prompt": prompt, "completion": completion, "total": prompt + completion},
            "latencyMs": round(elapsed * 1000, 1), "cost": sum(c["cost"] or 0.0 for c in calls),
            "cache": {"hits": sum(1 for c in calls if c["cached"]), "calls": len(calls)},
            "cacheHit": bool(calls) and all(c["cached"] for c in calls),
            "model": calls[0]["model"] if calls else None,
            "calls": calls, "curl": curl, "curlNote": curl_note, "error": error, "time": time.time(),
        }
        data.update(extra or {})
        prev = self.previous(plan["key"])
        data["diff"] = diff_runs(prev.data, data) if prev is not None else None
        self.remember(Run(run_id, plan["key"], data))
        return {**data, "history": [_summary(d) for d in self.listing(plan["key"])]}


def _history_file() -> Any:
    """history.jsonl in the cache folder, or None (calls kept in memory only) when that folder cannot
    be made: an unwritable cache must not stop the editor from running anything."""
    from lmp.runtime.lm.history import History

    path = History.default_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("playground runs are not recorded in %s: %s", path, exc)
        return None
    if not os.access(path.parent, os.W_OK):
        log.warning("playground runs are not recorded in %s: the folder is not writable", path)
        return None
    return path


def _tap(requests: list[Any], emit: Any) -> Any:
    """The wiretap observer of a run: keeps each request (the cURL is built after the run) and says
    which model is being called (a slow local model shows this long before its first token)."""

    def tap(lm: Any, messages: list[Any], request: dict[str, Any]) -> None:
        requests.append((lm, messages, request))
        name = getattr(lm, "name", None) or getattr(lm, "model", "the model")
        emit(f"calling {name}…", None)

    return tap


def _required(program: ir.Program, target: str, name: str) -> bool:
    if target in program.modules:
        p = next((p for p in program.modules[target].params if p.name == name), None)
        return p is not None and p.default is None and not p.type.render().endswith("?")
    f = program.signatures[target].field(name)
    return f is not None and getattr(f, "default", None) is None and not f.type.render().endswith("?")


def _output_types(program: ir.Program, target: str) -> dict[str, str]:
    mod = program.modules.get(target)
    if mod is not None:
        return {f.name: f.type.render() for f in mod.outputs}
    sig = program.signatures.get(target)
    return {f.name: f.type.render() for f in sig.outputs} if sig is not None else {}


def _cancel_when(cancelled: threading.Event, done: threading.Event, run: Any) -> None:
    while not done.is_set():
        if cancelled.wait(0.05):
            run.cancel()
            return


def _short(value: Any, n: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["id"], "status": d["status"], "time": d["time"], "latencyMs": d["latencyMs"],
            "tokens": d["tokens"]["total"], "cost": d["cost"], "cacheHit": d["cacheHit"],
            "outputs": {o["name"]: o["value"] for o in d["outputs"]}, "inputs": d["inputs"]}


def diff_runs(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed since the previous run of the same target: each output field, the inputs, the
    status, tokens/latency/cost, and a unified diff of the outputs as JSON."""
    b = {o["name"]: o["value"] for o in before.get("outputs") or []}
    a = {o["name"]: o["value"] for o in after.get("outputs") or []}
    fields = [{"name": k, "before": b.get(k), "after": a.get(k), "changed": b.get(k) != a.get(k)}
              for k in dict.fromkeys([*b, *a])]
    text = "\n".join(difflib.unified_diff(
        json.dumps(b, ensure_ascii=False, indent=2, sort_keys=True).splitlines(),
        json.dumps(a, ensure_ascii=False, indent=2, sort_keys=True).splitlines(),
        f"run {before['id']}", f"run {after['id']}", lineterm=""))
    return {
        "previousId": before["id"], "fields": fields, "changed": any(f["changed"] for f in fields),
        "inputsChanged": before.get("inputs") != after.get("inputs"),
        "status": [before.get("status"), after.get("status")],
        "tokens": [before["tokens"]["total"], after["tokens"]["total"]],
        "latencyMs": [before["latencyMs"], after["latencyMs"]], "cost": [before["cost"], after["cost"]],
        "text": text,
    }


# ---------------------------------------------------------------- the LSP side


async def _loaded(ls: Any, params: dict[str, Any]) -> Any:
    """The analysis of `params.uri` (the open buffer, else the file on disk); refuses a program with errors."""
    from pygls.exceptions import JsonRpcException

    from lmp.lsp.server import REQUEST_FAILED

    analysis = await ls.analysis_of(params)
    errors = analysis.loaded.errors
    if errors:
        first = errors[0]
        where = f"{os.path.basename(first.path or analysis.path)}:{first.span.line + 1}:{first.span.col + 1}"
        raise JsonRpcException(f"the program has {len(errors)} error(s); fix them before running "
                               f"(first: {where} {first.message})", code=REQUEST_FAILED)
    return analysis


async def _in_thread(ls: Any, params: dict[str, Any], title: str, name: str, work: Any) -> Any:
    """Run `work(emit, cancelled, started)` on a thread of its own under work-done progress. A
    $/cancelRequest (or "cancel" on the progress) sets `cancelled`; the run stops at the model's next
    chunk (a test run after the test under way) and the request answers "cancelled"."""
    from lsprotocol import types as lsp
    from pygls.exceptions import JsonRpcException

    from lmp.lsp.server import REQUEST_FAILED
    from lmp.runtime.streaming import StreamCancelled

    pg: Playground = ls.playground
    progress = _Progress(ls, params.get("workDoneToken"))
    cancelled = threading.Event()
    started = threading.Event()
    loop = asyncio.get_running_loop()

    def emit(message: str, percentage: int | None) -> None:
        loop.call_soon_threadsafe(progress.report, message, percentage)

    ctx = contextvars.copy_context()
    future: asyncio.Future[Any] = loop.create_future()

    def body() -> None:
        try:
            result = ctx.run(work, emit, cancelled, started)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, future, None, exc)
            return
        loop.call_soon_threadsafe(_settle, future, result, None)

    await progress.begin(title, "waiting for the previous run…" if pg._busy.locked() else "starting…")
    progress.on_cancel(cancelled.set)
    threading.Thread(target=body, daemon=True, name=f"lmp-run-{name}").start()
    try:
        result = await future
    except asyncio.CancelledError:
        # $/cancelRequest: stop the run, then let pygls answer "cancelled".
        cancelled.set()
        progress.end("cancelled")
        raise
    except PlaygroundError as exc:
        progress.end(str(exc))
        raise JsonRpcException(str(exc), code=REQUEST_FAILED) from None
    except StreamCancelled:
        progress.end("cancelled")
        raise JsonRpcException("the run was cancelled", code=lsp.LSPErrorCodes.RequestCancelled) from None
    except Exception as exc:
        progress.end(f"failed: {scrub(str(exc))}")
        raise
    progress.end(_done_message(result))
    return result


def _done_message(result: Any) -> str:
    if isinstance(result, dict) and "results" in result:
        runs = result["results"]
        counts = {k: sum(1 for r in runs if r["status"] == k) for k in ("pass", "fail", "error", "cancelled")}
        return " · ".join(f"{n} {k}" for k, n in counts.items() if n) or "no tests"
    return (f"{result['status']} in {result['latencyMs'] / 1000:.2f} s · {result['tokens']['total']} tokens"
            + (" · cached" if result["cacheHit"] else ""))


def _span_to_range(ls: Any, analysis: Any) -> Any:
    lm = analysis.linemap(analysis.path, ls.encoding)

    def to_range(span: Span) -> dict[str, Any]:
        r = lm.range(span)
        return {"start": {"line": r.start.line, "character": r.start.character},
                "end": {"line": r.end.line, "character": r.end.character}}

    return to_range


async def run_request(ls: Any, params: dict[str, Any]) -> dict[str, Any]:
    """`lmp/run`: params {uri, kind?, name, inputs?, models?, noCache?, workDoneToken?}."""
    from pygls.exceptions import JsonRpcException

    from lmp.lsp.server import REQUEST_FAILED

    analysis = await _loaded(ls, params)
    program = analysis.loaded.program
    pg: Playground = ls.playground
    try:
        plan = pg.prepare(program, analysis.path, params)
    except PlaygroundError as exc:
        raise JsonRpcException(str(exc), code=REQUEST_FAILED) from None
    state = ls.state_path(analysis.path)
    models = params.get("models") if isinstance(params.get("models"), dict) else None
    no_cache = bool(params.get("noCache"))
    to_range = _span_to_range(ls, analysis)

    def work(emit: Any, cancelled: threading.Event, started: threading.Event) -> dict[str, Any]:
        if plan["kind"] == "test":
            runs = pg.execute_tests(program, analysis.path, plan["names"], state=state, models=models,
                                    no_cache=no_cache, emit=emit, cancelled=cancelled, to_range=to_range,
                                    started=started)
            if not runs or runs[0]["status"] == "cancelled":
                from lmp.runtime.streaming import StreamCancelled

                raise StreamCancelled
            return runs[0]
        return pg.execute(program, plan, state=state, models=models, no_cache=no_cache, emit=emit,
                          cancelled=cancelled, started=started)

    return await _in_thread(ls, params, f"lmp: running {plan['kind']} {plan['name']}", plan["name"], work)


async def run_tests_request(ls: Any, params: dict[str, Any]) -> dict[str, Any]:
    """`lmp/runTests`: params {uri, names?: [test names] (default: every test of the file), models?,
    noCache?, workDoneToken?}. Each result is also sent as an `lmp/testResult` notification
    ({uri, result}) as soon as it is ready, so the Testing view marks tests one by one."""
    analysis = await _loaded(ls, params)
    program = analysis.loaded.program
    pg: Playground = ls.playground
    names = params.get("names") if isinstance(params.get("names"), list) else None
    models = params.get("models") if isinstance(params.get("models"), dict) else None
    uri = params["uri"]
    loop = asyncio.get_running_loop()

    def notify(result: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(ls.protocol.notify, "lmp/testResult", {"uri": uri, "result": result})

    def work(emit: Any, cancelled: threading.Event, started: threading.Event) -> dict[str, Any]:
        runs = pg.execute_tests(program, analysis.path, [str(n) for n in names or []] or None,
                                state=ls.state_path(analysis.path), models=models,
                                no_cache=bool(params.get("noCache")), emit=emit, cancelled=cancelled,
                                to_range=_span_to_range(ls, analysis), on_result=notify, started=started)
        return {"uri": uri, "results": runs}

    label = f"{len(names)} test(s)" if names else f"the tests of {os.path.basename(analysis.path)}"
    return await _in_thread(ls, params, f"lmp: running {label}", "tests", work)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class _Progress:
    """LSP work-done progress for one run: the client's token if it sent one, else one we create."""

    def __init__(self, ls: Any, token: Any) -> None:
        self.ls = ls
        self.token = token
        self.active = False

    async def begin(self, title: str, message: str) -> None:
        from lsprotocol import types as lsp

        if self.token is None:
            caps = getattr(self.ls, "client_capabilities", None)
            window = getattr(caps, "window", None) if caps is not None else None
            if not getattr(window, "work_done_progress", False):
                return
            self.token = f"lmp-run-{next(_run_ids)}-{time.monotonic_ns()}"
            try:
                await asyncio.wait_for(self.ls.work_done_progress.create_async(self.token), 5)
            except Exception:  # noqa: BLE001 - no progress UI is no reason not to run
                self.token = None
                return
        self.ls.work_done_progress.begin(self.token, lsp.WorkDoneProgressBegin(
            title=title, message=message, cancellable=True))
        self.active = True

    def on_cancel(self, fn: Any) -> None:
        """The user pressed "cancel" on the progress notification (window/workDoneProgress/cancel)."""
        if not self.active:
            return
        fut = self.ls.work_done_progress.tokens.get(self.token)
        if fut is not None:
            fut.add_done_callback(lambda f: fn() if f.cancelled() else None)

    def report(self, message: str, percentage: int | None = None) -> None:
        from lsprotocol import types as lsp

        if self.active:
            self.ls.work_done_progress.report(self.token, lsp.WorkDoneProgressReport(
                message=scrub(message), percentage=percentage))

    def end(self, message: str) -> None:
        from lsprotocol import types as lsp

        if self.active:
            self.active = False
            self.ls.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(message=scrub(message)))
            self.ls.work_done_progress.tokens.pop(self.token, None)


def code_lenses(program: ir.Program, path: str, uri: str, lm: Any) -> list[Any]:
    """"▶ Run" lenses (client command `lmp.run`, arguments [uri, {kind, name, target, inputs, hasInputs}])."""
    from lsprotocol import types as lsp

    out = []
    for t in run_targets(program, path):
        title = "▶ Run test" if t.kind == "test" else "▶ Run"
        if t.kind == "example":
            title = "▶ Run example"
        out.append(lsp.CodeLens(range=lm.range(t.span), command=lsp.Command(
            title=title, command="lmp.run", arguments=[uri, t.to_json()])))
    return out


def register(ls: Any, guarded: Any, as_dict: Any) -> None:
    """The playground's custom requests on the server (called by lmp.lsp.server.create_server)."""

    @ls.feature("lmp/run")
    @guarded(raise_errors=True)
    async def run(ls: Any, params: Any) -> dict[str, Any]:
        return await run_request(ls, as_dict(params) or {})

    @ls.feature("lmp/runTests")
    @guarded(raise_errors=True)
    async def run_tests(ls: Any, params: Any) -> dict[str, Any]:
        return await run_tests_request(ls, as_dict(params) or {})

    @ls.feature("lmp/runTargets")
    @guarded(raise_errors=True)
    async def targets(ls: Any, params: Any) -> dict[str, Any]:
        """{uri} -> {uri, targets: [{kind, name, target, inputs, hasInputs, range}]}: what can run in a file
        (the Testing view lists its tests and examples from here)."""
        p = as_dict(params) or {}
        a = await ls.analysis_of(p)
        uri = p["uri"]
        lm = a.linemap(a.path, ls.encoding)
        out = []
        for t in run_targets(a.loaded.program, a.path):
            r = lm.range(t.span)
            out.append({**t.to_json(), "range": {"start": {"line": r.start.line, "character": r.start.character},
                                                 "end": {"line": r.end.line, "character": r.end.character}}})
        return {"uri": uri, "targets": out}

    @ls.feature("lmp/runs")
    @guarded(raise_errors=True)
    async def runs(ls: Any, params: Any) -> dict[str, Any]:
        """{uri?, kind?, name?} -> {runs: [...]}: the runs kept this session (the last RUNS_KEPT per target)."""
        from lmp.lsp.server import uri_to_path

        p = as_dict(params) or {}
        path = uri_to_path(p["uri"]) if p.get("uri") else None
        key = Playground.key_of(path, p["kind"], p["name"]) if path and p.get("kind") and p.get("name") else None
        return {"runs": ls.playground.listing(key=key, path=path)}
