"""Sample schemas: one derived from the notebook's `example` when it gives no `input_schema`,
and any draft-07 schema made fit for OpenAPI's components.

The derived schema is lenient: JSON types, an object's keys (required; others allowed),
and the length of numeric vectors (a 2-d example fixes its rows' length, not their
number). A request of another shape is then a 422 that says what was expected instead of
a traceback from deep inside the predictor. NBS2I_INFER_SCHEMA=0 turns it off.
"""
from __future__ import annotations

import copy
from typing import Any

_NUMBER = {"type": "number"}


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def from_example(example: Any) -> dict[str, Any]:
    if isinstance(example, bool):
        return {"type": "boolean"}
    if _numeric(example):
        return dict(_NUMBER)
    if isinstance(example, str):
        return {"type": "string"}
    if isinstance(example, dict):
        return {"type": "object", "required": sorted(example),
                "properties": {key: from_example(value) for key, value in example.items()}}
    if isinstance(example, list):
        if example and all(_numeric(v) for v in example):
            return {"type": "array", "items": dict(_NUMBER), "minItems": len(example), "maxItems": len(example)}
        if example and all(isinstance(row, list) and row and all(_numeric(v) for v in row) for row in example) \
                and len({len(row) for row in example}) == 1:
            return {"type": "array", "items": from_example(example[0])}
        return {"type": "array"}
    return {}  # null: anything


def for_openapi(schema: Any, name: str = "Sample") -> tuple[Any, dict[str, Any]]:
    """(schema, extra components): draft-07 `definitions` / `$defs` moved into OpenAPI's
    components as `{name}.{key}`, and every local `$ref` to them (or to the root, `#`)
    rewritten to point there, so the document stays valid for any input_schema."""
    if not isinstance(schema, dict):
        return schema, {}
    schema = copy.deepcopy(schema)
    found: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        for sub, value in (schema.pop(key, None) or {}).items():
            found[f"{key}/{sub}"] = value

    def target(ref: str) -> str | None:
        if ref == "#":
            return f"#/components/schemas/{name}"
        for key in ("definitions", "$defs"):
            prefix = f"#/{key}/"
            if ref.startswith(prefix):
                head, _, rest = ref[len(prefix):].partition("/")
                return f"#/components/schemas/{name}.{head}" + (f"/{rest}" if rest else "")
        return None

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: rewrite(v) for k, v in node.items()}
            if isinstance(node.get("$ref"), str) and target(node["$ref"]):
                out["$ref"] = target(node["$ref"])
            return out
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    extra = {f"{name}.{path.split('/', 1)[1]}": rewrite(value) for path, value in found.items()}
    return rewrite(schema), extra
