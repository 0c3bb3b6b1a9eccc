"""When two answers to one sample are the same answer: compared as the JSON a client receives.

The build uses it twice (docs/notebook.md): batch_predictor against predictor in the notebook's
own run, and the served environment's answer to the example against the notebook's. Numbers
agree within a relative tolerance of 1e-6 (or 1e-9 absolute, for values near zero): the same
model in another process may sum in another order (BLAS threads), never by more than that.
"""
from __future__ import annotations

import math
from typing import Any

from . import encode

REL_TOL = 1e-6
ABS_TOL = 1e-9


def as_sent(value: Any) -> Any:
    """value as a client would decode it (numpy and pandas converted, NaN as null); TypeError if JSON cannot hold it."""
    return encode.loads(encode.dumps(value))


def difference(a: Any, b: Any, where: str = "$") -> str | None:
    """None when a and b (decoded JSON) are the same answer, else the path of the first difference."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None if a is b else where
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return None if math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL) else where
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return where
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := difference(x, y, f"{where}[{i}]"))), None)
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return where
        return next((d for k in a if (d := difference(a[k], b[k], f"{where}.{k}"))), None)
    return None if a == b and type(a) is type(b) else where


def shown(value: Any, limit: int = 200) -> str:
    """An answer as the build log shows it: JSON, cut to limit characters."""
    text = encode.dumps(value).decode()
    return text if len(text) <= limit else text[:limit - 3] + "..."
