"""The OpenAPI 3.1 description of the service, made from metadata.json alone.

The build writes it to OUT/model/openapi.json; the service serves the same document.
"""
from __future__ import annotations

from typing import Any, Mapping

from . import schema
from .contract import META_BUILD_ID, META_EXAMPLE, META_INPUT_SCHEMA, META_MODEL_NAME

_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "request_id": {"type": "string"},
        "details": {}}}},
}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Malformed JSON", 401: "Missing or wrong bearer token", 413: "Body too large",
            415: "Content type is not JSON", 422: "Rejected by the validator or input schema",
            500: "The predictor failed (error id in the body, traceback in the log)",
            503: "The model is not loaded yet", 404: "Unknown model name"}
    return {str(s): {"description": text[s], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for s in statuses}


def _json(schema: Any, example: Any = None, has_example: bool = False) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if has_example:
        media["example"] = example
    return {"content": {"application/json": media}}


def build_spec(metadata: Mapping[str, Any], infer_schema: bool = True) -> dict[str, Any]:
    """The document; without an input_schema, the schema derived from `example` (schema.py)
    describes a sample, as the service checks it (unless NBS2I_INFER_SCHEMA=0)."""
    name = str(metadata.get(META_MODEL_NAME, "model"))
    given = metadata.get(META_INPUT_SCHEMA)
    if given is None and infer_schema and META_EXAMPLE in metadata:
        given = {**schema.from_example(metadata[META_EXAMPLE]),
                 "description": "The shape of the notebook's example (derived; NBS2I_INFER_SCHEMA=0 turns it off)."}
    sample, definitions = schema.for_openapi(given or {"description": "One sample: the JSON the predictor takes."})
    has_example = META_EXAMPLE in metadata
    example = metadata.get(META_EXAMPLE)
    batch = {"type": "object", "required": ["instances"],
             "properties": {"instances": {"type": "array", "items": {"$ref": "#/components/schemas/Sample"}}}}
    predictions = {"type": "object", "properties": {"predictions": {"type": "array"}}}
    protected = [{"bearer": []}, {}]
    post_errors = (400, 401, 413, 415, 422, 500, 503)
    health = {"get": {"summary": "Health probe", "responses": {"200": {"description": "OK"},
                                                                "503": {"description": "Not ready"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{name} model service", "version": str(metadata.get(META_BUILD_ID, "")),
                 "description": "A notebook's model served by nbs2i."},
        "components": {
            "schemas": {"Sample": sample, **definitions, "Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/predict": {"post": {
                "summary": "Score one sample", "security": protected,
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/Sample"}, example, has_example)},
                "responses": {"200": _json({"type": "object", "properties": {"prediction": {}}}) | {"description": "The prediction"},
                              **_errors(*post_errors)}}},
            "/predict/batch": {"post": {
                "summary": "Score several samples", "security": protected,
                "requestBody": {"required": True, **_json(batch, {"instances": [example]}, has_example)},
                "responses": {"200": _json(predictions) | {"description": "One prediction per instance"},
                              **_errors(*post_errors)}}},
            "/v1/models/{name}": {"get": {
                "summary": "KServe V1 model status", "security": protected,
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "object"}) | {"description": "Model status"}, **_errors(401, 404)}}},
            "/v1/models/{name}:predict": {"post": {
                "summary": "KServe V1 predict (same as /predict/batch)", "security": protected,
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, **_json(batch, {"instances": [example]}, has_example)},
                "responses": {"200": _json(predictions) | {"description": "One prediction per instance"},
                              **_errors(404, *post_errors)}}},
            "/metadata": {"get": {"summary": "Build metadata", "security": protected,
                                  "responses": {"200": _json({"type": "object"}) | {"description": "metadata.json"},
                                                **_errors(401)}}},
            "/health/live": health, "/health/ready": health, "/v2/health/live": health, "/v2/health/ready": health,
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "Prometheus text format"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/": {"get": {"summary": "A page to try the model", "responses": {"200": {"description": "HTML"}}}},
        },
    }
