"""The reference profile: what the build keeps of the training data, never its rows.

Made in the notebook's own process after its last cell (builder/runner.py), from the data
reference.py found; read by the service (drift.py). Per feature:

- numeric (numbers with more than MAX_CATEGORIES distinct values): about 10 bins cut at the
  reference's deciles (midway between neighbouring values, rounded to 6 significant digits,
  so no edge is a row's value), the reference's share in each, and its missing share;
- categorical (anything else): the MAX_CATEGORIES most frequent values and their shares,
  the share of all other values ("other"), and the missing share.

The model's own answers on up to PREDICTION_ROWS rows (within PREDICTION_SECONDS) are
profiled the same way when they are numbers or labels (prediction drift). Features of a dict
`example` are its keys; of a list `example`, its positions ("0", "1", ...).
"""
from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import Counter
from typing import Any, Callable, Iterable

from . import answers, reference

PROFILE_ROWS = 100_000      # rows read for the feature profile (evenly spaced when there are more)
PREDICTION_ROWS = 5_000     # rows the model scores for the prediction profile
PREDICTION_SECONDS = 30.0   # ... or as many as it scores in this long
MAX_CATEGORIES = 20
BINS = 10
VERSION = 1


def feature_names(example: Any) -> list[str]:
    return list(example) if isinstance(example, dict) else [str(i) for i in range(len(example))]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def describe(name: str, values: list) -> dict[str, Any]:
    """One feature's profile from its reference values (JSON values; None or NaN is missing)."""
    present = [v for v in values if not is_missing(v)]
    total = max(len(values), 1)
    missing = (len(values) - len(present)) / total
    numbers = [float(v) for v in present if is_number(v)]
    if present and len(numbers) == len(present) and len(set(numbers)) > MAX_CATEGORIES:
        numbers.sort()
        edges = sorted({_round((numbers[k - 1] + numbers[k]) / 2) for k in
                        (len(numbers) * q // BINS for q in range(1, BINS)) if 0 < k < len(numbers)})
        counts = [0] * (len(edges) + 1)
        for v in numbers:
            counts[bisect_left(edges, v)] += 1
        return {"name": name, "kind": "numeric", "edges": edges, "shares": [c / total for c in counts],
                "missing": missing}
    keys = Counter(category(v) for v in present)
    top = keys.most_common(MAX_CATEGORIES)
    return {"name": name, "kind": "categorical", "values": [k for k, _ in top], "shares": [c / total for _, c in top],
            "other": (len(present) - sum(c for _, c in top)) / total, "missing": missing}


def category(value: Any) -> Any:
    """A categorical value as the profile keeps it: numbers as floats (1 and 1.0 are one), text as text."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if is_number(value):
        return float(value)
    return answers.shown(value, 80)  # a list or dict: its JSON, as one label


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _columns(found: reference.Found, example: Any, names: list[str]) -> tuple[list[list], int]:
    """Each feature's values over up to PROFILE_ROWS rows, as JSON values, read column by column."""
    step = max(1, math.ceil(found.rows / PROFILE_ROWS))
    data = found.data
    if reference.is_frame(data):
        keys = list(example) if isinstance(example, dict) else list(data.columns)
        picked = data.iloc[::step]
        return [answers.as_sent(picked[key].tolist()) for key in keys], len(picked)
    if reference.is_array(data):
        picked = data[::step]
        return [answers.as_sent(picked[:, i].tolist()) for i in range(len(names))], len(picked)
    rows = [answers.as_sent(r) for r in data[::step]]
    if isinstance(example, dict):
        return [[r.get(n) if isinstance(r, dict) else None for r in rows] for n in names], len(rows)
    return [[r[i] if isinstance(r, list) and i < len(r) else None for r in rows] for i in range(len(names))], len(rows)


def make(found: reference.Found, example: Any, score: Callable[[list], Iterable[Any]]) -> dict[str, Any]:
    """The profile of found (shaped like example); score(samples) gives the model's answers."""
    names = feature_names(example)
    columns, profiled = _columns(found, example, names)
    profile = {"version": VERSION, "variable": found.name, "rows": found.rows, "profiled_rows": profiled,
               "sample": "dict" if isinstance(example, dict) else "list",
               "features": [describe(n, c) for n, c in zip(names, columns)], "prediction": None}
    predictions = _predictions(found, example, score)
    if predictions:
        profile["prediction"] = {**describe("prediction", predictions), "rows": len(predictions)}
    return profile


def _predictions(found: reference.Found, example: Any, score: Callable[[list], Iterable[Any]]) -> list:
    """The model's answers on up to PREDICTION_ROWS rows, when every one is a number or a label
    (None where the model failed on a row: counted as missing)."""
    got: list = []
    deadline = time.monotonic() + PREDICTION_SECONDS
    samples = list(reference.samples(found, example, PREDICTION_ROWS))
    for start in range(0, len(samples), 256):
        try:
            got.extend(answers.as_sent(list(score(samples[start:start + 256]))))
        except Exception:  # rows the model refuses: the prediction profile is left out
            return []
        if time.monotonic() > deadline:
            break
    labels = all(p is None or isinstance(p, (str, bool)) or is_number(p) for p in got)
    return got if labels and any(p is not None for p in got) else []
