"""Request/response models and the OpenAPI document, generated from a program's IR types.

The `.lmp` types are the single truth: pydantic models (strict, no extra keys) validate request
bodies and responses, and the OpenAPI document embeds `Type.json_schema()` of the same types, so
what the document promises is what the server checks.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, create_model

from lmp.ir.nodes import Module, Program
from lmp.ir.types import (
    DictType,
    ListType,
    LiteralType,
    NoneType,
    OptionalType,
    PrimType,
    RecordType,
    Type,
)

_STRICT = ConfigDict(strict=True, extra="forbid")
_PRIMS: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool}


def annotation(t: Type, cache: dict[Type, Any] | None = None) -> Any:
    """The pydantic annotation for an IR type (records become strict pydantic models)."""
    cache = {} if cache is None else cache
    if t in cache:
        return cache[t]
    out: Any
    if isinstance(t, PrimType):
        out = _PRIMS[t.name]
    elif isinstance(t, LiteralType):
        out = Literal[t.members]  # type: ignore[valid-type]
    elif isinstance(t, ListType):
        out = list[annotation(t.item, cache)]  # type: ignore[misc]
    elif isinstance(t, DictType):
        out = dict[str, annotation(t.value, cache)]  # type: ignore[misc]
    elif isinstance(t, OptionalType):
        out = Optional[annotation(t.inner, cache)]  # noqa: UP045 - built dynamically
    elif isinstance(t, RecordType):
        fields: dict[str, Any] = {}
        for f in t.fields:
            ann = annotation(f.type, cache)
            fields[f.name] = (ann, None) if isinstance(f.type, OptionalType) else (ann, ...)
        out = create_model(t.name or "Record", __config__=_STRICT, **fields)  # type: ignore[call-overload]
    elif isinstance(t, NoneType):
        out = type(None)
    else:  # AnyType and anything unknown: accept any JSON value
        out = Any
    cache[t] = out
    return out


def request_model(mod: Module) -> type[BaseModel]:
    """Body of `POST /modules/{mod.name}`: one key per parameter. Parameters with a default or an
    optional type may be left out (the interpreter then applies the default)."""
    cache: dict[Type, Any] = {}
    fields: dict[str, Any] = {}
    for p in mod.params:
        ann = annotation(p.type, cache)
        required = p.default is None and not isinstance(p.type, OptionalType)
        fields[p.name] = (ann, ...) if required else (ann, None)
    return create_model(f"{mod.name}Request", __config__=_STRICT, **fields)  # type: ignore[call-overload]


def response_model(mod: Module) -> type[BaseModel]:
    cache: dict[Type, Any] = {}
    fields: dict[str, Any] = {}
    for f in mod.outputs:
        ann = annotation(f.type, cache)
        fields[f.name] = (ann, None) if isinstance(f.type, OptionalType) else (ann, ...)
    return create_model(f"{mod.name}Response", __config__=_STRICT, **fields)  # type: ignore[call-overload]


def request_schema(mod: Module) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for p in mod.params:
        props[p.name] = p.type.json_schema()
        if p.default is None and not isinstance(p.type, OptionalType):
            required.append(p.name)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False,
                           "title": f"{mod.name}Request"}
    if required:
        out["required"] = required
    return out


def response_schema(mod: Module) -> dict[str, Any]:
    schema = mod.output_record().json_schema()
    schema["title"] = f"{mod.name}Response"
    return schema


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable kind, e.g. invalid_request, "
                  "bad_model_output, model_error, model_timeout, overloaded, not_ready"},
        "message": {"type": "string"},
        "request_id": {"type": "string"},
        "fields": {"type": "array", "items": {
            "type": "object",
            "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "loc": {"type": "array"},
                           "message": {"type": "string"}, "type": {"type": "string"}},
        }},
        "field": {"type": ["string", "null"]},
        "expected_type": {"type": "string"},
    },
}


def served_modules(program: Program) -> list[Module]:
    """Modules with a route: every non-metric module of the program (imports included)."""
    return [m for m in program.modules.values() if not m.is_metric]


def openapi_document(program: Program, title: str, version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document (JSON Schema 2020-12 for bodies) for the served program."""
    paths: dict[str, Any] = {}

    def err(desc: str) -> dict[str, Any]:
        return {"description": desc,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for mod in served_modules(program):
        req, resp = f"{mod.name}Request", f"{mod.name}Response"
        schemas[req] = request_schema(mod)
        schemas[resp] = response_schema(mod)
        doc = mod.doc if isinstance(getattr(mod, "doc", None), str) else None
        params = ", ".join(f"{p.name}: {p.type.render()}" for p in mod.params)
        outs = ", ".join(f"{f.name}: {f.type.render()}" for f in mod.outputs)
        paths[f"/modules/{mod.name}"] = {"post": {
            "operationId": f"run_{mod.name}",
            "summary": f"Run module {mod.name}({params}) -> ({outs})",
            **({"description": doc} if doc else {}),
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{req}"}}}},
            "responses": {
                "200": {"description": "the module's outputs",
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{resp}"}}}},
                "422": err("the request body does not match the module's parameter types"),
                "500": err("the program failed (e.g. a tool raised)"),
                "502": err("the model failed: unparsable output or a provider/connection error"),
                "503": err("the server is saturated (concurrency limit) or not ready yet"),
                "504": err("the request exceeded the server's timeout or the model timed out"),
            },
        }}
    health = {"description": "status", "content": {"application/json": {"schema": {
        "type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}}}}
    paths["/healthz"] = {"get": {"operationId": "healthz", "summary": "liveness",
                                 "responses": {"200": health}}}
    paths["/readyz"] = {"get": {"operationId": "readyz", "summary": "readiness (program loaded, models up)",
                                "responses": {"200": health, "503": health}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Generated by `lmp serve` from the program's declared types."},
        "paths": paths,
        "components": {"schemas": schemas},
    }
