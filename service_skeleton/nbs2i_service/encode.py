"""JSON in and out: fast (orjson when present), strict on input, NaN-safe on output.

Predictions may hold numpy/pandas values; they are converted, and NaN/Infinity become
null so every body is valid JSON.
"""
from __future__ import annotations

import json
import math
from typing import Any

try:
    import orjson
except ImportError:  # the service still works without it, only slower
    orjson = None


class DecodeError(ValueError):
    """The request body is not valid JSON."""


def _reject_constant(name: str) -> Any:
    raise DecodeError(f"{name} is not valid JSON")


def loads(body: bytes) -> Any:
    try:
        if orjson is not None:
            return orjson.loads(body)
        return json.loads(body, parse_constant=_reject_constant)
    except DecodeError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(str(exc)) from None


def to_jsonable(obj: Any, fallback: Any = None) -> Any:
    """Plain Python for numpy/pandas values, None for NaN and infinities; a value of no known kind
    goes to fallback(value) when given, else raises TypeError."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, fallback) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v, fallback) for v in obj]
    module = type(obj).__module__
    if module.startswith("pandas"):
        if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
            return to_jsonable(obj.to_dict(orient="records"), fallback)
        if hasattr(obj, "tolist"):
            return to_jsonable(obj.tolist(), fallback)
        if hasattr(obj, "isoformat"):
            return obj.isoformat()
    if module.startswith("numpy"):
        if hasattr(obj, "tolist"):
            return to_jsonable(obj.tolist(), fallback)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return to_jsonable(obj.tolist(), fallback)
    if hasattr(obj, "item"):
        return to_jsonable(obj.item(), fallback)
    if fallback is not None:
        return fallback(obj)
    raise TypeError(f"a value of type {type(obj).__name__} cannot be encoded as JSON")


def dumps(obj: Any) -> bytes:
    """Encode obj as JSON bytes; raise TypeError for values JSON cannot hold."""
    if orjson is not None:
        try:
            # orjson writes NaN/Infinity as null and handles numpy arrays natively
            return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return orjson.dumps(to_jsonable(obj))
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":")).encode()
