"""State files: writing, validating (published JSON Schema) and loading against a program.

The file is sorted, indented JSON so that `git diff` and `lmp diff-state` read well. Anything that
looks like a credential is dropped (keys named like `api_key`, `*_token`, ...) or masked (values
that look like keys, or equal a credential environment variable) before writing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lmp.ir.nodes import Program
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.state import StateWarning, signature_hash
from lmp.secrets import scrub

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("state.schema.json")
_SECRET_KEY_PARTS = ("api_key", "apikey", "secret", "password", "token", "authorization", "credential",
                     "credentials", "headers", "extra_headers")


class StateError(LmpRuntimeError):
    """A state file that is invalid or does not fit the program."""

    user_facing = True


@dataclass
class PredictorState:
    signature_hash: str
    instructions: str | None = None
    demos: list[dict[str, Any]] = field(default_factory=list)
    knn: dict[str, Any] | None = None
    ensemble: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"signature_hash": self.signature_hash, "instructions": self.instructions,
                               "demos": [clean_demo(d) for d in self.demos]}
        if self.knn is not None:
            out["knn"] = {"k": int(self.knn.get("k", 3)), "pool": [clean_demo(d) for d in self.knn.get("pool", [])]}
        if self.ensemble is not None:
            out["ensemble"] = [{"instructions": m.get("instructions"), "demos": [clean_demo(d) for d in m.get("demos", [])]}
                               for m in self.ensemble]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictorState:
        return cls(data.get("signature_hash", ""), data.get("instructions"), list(data.get("demos") or []),
                   data.get("knn"), data.get("ensemble"))


# Optimizer settings whose value is a list of file paths (the ensemble's member state files).
PATH_LIST_SETTINGS = ("members",)


def portable_path(path: Any, folder: str) -> Any:
    """`path` as written into a state file in `folder`: relative to it, with `/` separators. Left as it is
    when it is not a path string or has no relative form (another drive on Windows)."""
    if not isinstance(path, str) or not path:
        return path
    try:
        rel = os.path.relpath(os.path.abspath(path), folder)
    except ValueError:
        return path
    return rel.replace(os.sep, "/")


def resolve_path(path: Any, folder: str) -> Any:
    """A path read from a state file in `folder`: relative ones are relative to that folder."""
    if not isinstance(path, str) or not path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(folder, path))


def clean_demo(d: dict[str, Any]) -> dict[str, Any]:
    out = {"inputs": dict(d.get("inputs") or {}), "outputs": dict(d.get("outputs") or {})}
    if "augmented" in d:
        out["augmented"] = bool(d["augmented"])
    return out


@dataclass
class State:
    program_path: str
    program_hash: str
    optimizer: str
    settings: dict[str, Any] = field(default_factory=dict)
    predictors: dict[str, PredictorState] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    prompt_model: str | None = None
    task_model: str | None = None
    seed: int | None = None
    module: str | None = None
    lmp_version: str = ""
    path: str | None = None  # where it was loaded from
    lineage: dict[str, Any] | None = None  # gepa: the candidates, their parents, feedback and scores

    def to_dict(self, *, relative_to: str | None = None) -> dict[str, Any]:
        """The JSON document. `relative_to` (the folder the file is written to) makes its paths relative to it."""
        from lmp import __version__

        settings = self.settings
        program_path = self.program_path
        if relative_to is not None:
            program_path = portable_path(program_path, relative_to)
            settings = {k: ([portable_path(v, relative_to) for v in val] if k in PATH_LIST_SETTINGS
                            and isinstance(val, list) else val) for k, val in settings.items()}
        data: dict[str, Any] = {
            "lmp_version": self.lmp_version or __version__,
            "schema": SCHEMA_VERSION,
            "program": {"path": program_path, "hash": self.program_hash, "module": self.module},
            "optimizer": {"name": self.optimizer, "settings": settings, "prompt_model": self.prompt_model,
                          "task_model": self.task_model, "seed": self.seed},
            "scores": self.scores,
            "cost": self.cost,
            "predictors": {pid: ps.to_dict() for pid, ps in sorted(self.predictors.items())},
        }
        if self.lineage is not None:
            data["lineage"] = self.lineage
        return scrub_secrets(data)

    def to_json(self, *, relative_to: str | None = None) -> str:
        return json.dumps(self.to_dict(relative_to=relative_to), indent=2, sort_keys=True, ensure_ascii=False,
                          default=str) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomic write (a crash never leaves half a state file). Paths in it are written relative to its
        folder, so a program moved or cloned together with its state still finds what the state names."""
        text = self.to_json(relative_to=os.path.dirname(os.path.abspath(path)))
        errors = validate(json.loads(text))
        if errors:
            raise StateError("refusing to write an invalid state file: " + "; ".join(errors[:5]))
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | None = None) -> State:
        """A state read from `path` (or given as data, path None): its relative paths are resolved against the
        file's folder (absolute ones, as older lmp versions wrote them, are kept)."""
        prog = data.get("program", {})
        opt = data.get("optimizer", {})
        settings = dict(opt.get("settings") or {})
        program_path = prog.get("path", "")
        if path is not None:
            base = os.path.dirname(os.path.abspath(path))
            program_path = resolve_path(program_path, base)
            for key in PATH_LIST_SETTINGS:
                if isinstance(settings.get(key), list):
                    settings[key] = [resolve_path(v, base) for v in settings[key]]
        return cls(
            program_path=program_path, program_hash=prog.get("hash", ""), module=prog.get("module"),
            optimizer=opt.get("name", ""), settings=settings,
            prompt_model=opt.get("prompt_model"), task_model=opt.get("task_model"), seed=opt.get("seed"),
            predictors={pid: PredictorState.from_dict(v) for pid, v in (data.get("predictors") or {}).items()},
            scores=dict(data.get("scores") or {}), cost=dict(data.get("cost") or {}),
            lmp_version=data.get("lmp_version", ""), path=path, lineage=data.get("lineage"))

    def runtime_dict(self) -> dict[str, Any]:
        """What `Interpreter.apply_state` takes."""
        return self.to_dict()


# ------------------------------------------------------------------ hashing


def program_hash(program: Program) -> str:
    """sha256 over the source text of the program and its imports (in a stable order), without their `test`
    blocks (`text_without_tests`): tests do not change what a state file was made for."""
    h = hashlib.sha256()
    seen: set[str] = set()

    def add(p: Program) -> None:
        if p.path in seen:
            return
        seen.add(p.path)
        h.update(os.path.basename(p.path).encode())
        h.update(b"\0")
        h.update(text_without_tests(p).encode("utf-8"))
        h.update(b"\0")
        for sub in sorted(p.imported, key=lambda x: x.path):
            add(sub)

    add(program)
    return "sha256:" + h.hexdigest()


def text_without_tests(p: Program) -> str:
    """The source with each test block cut out, with the blank and comment-only lines right above it and the
    line break after it: adding, editing or removing tests keeps the hash of a file (and of a shipped state)."""
    text = p.text
    for t in sorted(p.tests, key=lambda t: t.span.start, reverse=True):
        start = text.rfind("\n", 0, t.span.start) + 1
        while start > 0:
            above = text.rfind("\n", 0, start - 1) + 1
            line = text[above:start - 1].strip()
            if line and not line.startswith("#"):
                break
            start = above
        end = t.span.end + (1 if text[t.span.end:t.span.end + 1] == "\n" else 0)
        text = text[:start] + text[end:]
    return text


def predictor_hashes(program: Program) -> dict[str, str]:
    return {pid: signature_hash(p.signature) for pid, p in program.predictors().items() if p.signature is not None}


# ------------------------------------------------------------------ secrets


def _secret_key(name: str) -> bool:
    n = name.lower().replace("-", "_")
    return n in _SECRET_KEY_PARTS or n == "key" or n.startswith("api_key") \
        or n.endswith(("_key", "_token", "_secret", "_password", "_credentials", "apikey"))


def scrub_secrets(obj: Any, *, in_values: bool = False) -> Any:
    """Drop credential-named keys (outside demo values) and mask credential-looking strings."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if not in_values and _secret_key(str(k)):
                continue
            # Demo inputs/outputs are the user's data: field names are kept, only values are masked.
            out[k] = scrub_secrets(v, in_values=in_values or k in ("inputs", "outputs"))
        return out
    if isinstance(obj, list | tuple):
        return [scrub_secrets(v, in_values=in_values) for v in obj]
    return obj


# ------------------------------------------------------------------ validation and loading


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(data: Any) -> list[str]:
    """Schema errors as readable strings (empty: valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        errors.append(f"{where}: {err.message}")
    return errors


def check_program(state: State, program: Program) -> tuple[list[str], list[str]]:
    """(errors, warnings): changed signatures are errors; unknown predictors or an edited program warn."""
    errors: list[str] = []
    warns: list[str] = []
    hashes = predictor_hashes(program)
    where = state.path or "state"
    for pid, ps in state.predictors.items():
        if pid not in hashes:
            warns.append(f"{where}: predictor `{pid}` is not in {os.path.basename(program.path)}; its state is ignored")
        elif ps.signature_hash != hashes[pid]:
            errors.append(f"{where}: the signature of `{pid}` changed since this state was made (fields, types or "
                          f"roles differ); its demos no longer fit. Rerun `lmp optimize`, or pass strict=False to "
                          "use the rest of the file")
    if state.program_hash and state.program_hash != program_hash(program) and not errors:
        warns.append(f"{where}: {os.path.basename(program.path)} changed since this state was made "
                     "(signatures still match; instructions and demos are used)")
    return errors, warns


def read_state_data(source: str | os.PathLike[str] | dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    if isinstance(source, dict):
        return copy.deepcopy(source), None
    path = os.fspath(source)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")), path
    except FileNotFoundError:
        raise StateError(f"state file {path} does not exist") from None
    except ValueError as exc:
        raise StateError(f"state file {path} is not valid JSON: {exc}") from None


def load_state(source: str | os.PathLike[str] | dict[str, Any], program: Program | None = None,
               *, strict: bool = True) -> State:
    """Validate against the schema; with a program, check every predictor's signature hash.

    strict=True: a changed signature raises StateError naming the predictor; strict=False: a
    StateWarning, and that predictor's entry is dropped (never silently misused)."""
    data, path = read_state_data(source)
    errors = validate(data)
    if errors:
        raise StateError(f"{path or 'state'} does not match the state-file schema ({SCHEMA_PATH.name}): "
                         + "; ".join(errors[:5]))
    state = State.from_dict(data, path)
    if program is not None:
        errs, warns = check_program(state, program)
        if errs and strict:
            raise StateError("\n".join(errs))
        for msg in [*errs, *warns]:
            warnings.warn(msg, StateWarning, stacklevel=2)
        hashes = predictor_hashes(program)
        state.predictors = {pid: ps for pid, ps in state.predictors.items()
                            if pid in hashes and ps.signature_hash == hashes[pid]}
    return state
