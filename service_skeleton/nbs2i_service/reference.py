"""The notebook's training data, found in its namespace at the end of the build's run.

Runs in the build environment (builder/runner.py): the data never leaves the notebook's
process; what the build keeps of it is a profile (profile.py) and the answers to a few rows
(the batch check). Duck-typed, so it needs neither pandas nor numpy to be installed:

- `reference_data` when the notebook defines it (a DataFrame, a 2-d array, or a list of
  samples shaped like `example`); else NBS2I_REFERENCE=NAME, the variable of that name;
- else the DataFrame whose columns include every key of a dict `example`, or the DataFrame
  or 2-d array as wide as a list `example`; of several, the one with the most rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from . import answers

REFERENCE = "reference_data"
NONE = "none"


class ReferenceError(ValueError):
    """NBS2I_REFERENCE or reference_data names something that cannot be the training data."""


@dataclass
class Found:
    name: str
    data: Any
    rows: int
    why: str  # how it was chosen, for the build log


def is_frame(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "iloc") and getattr(value, "ndim", 0) == 2


def is_array(value: Any) -> bool:
    return not is_frame(value) and hasattr(value, "tolist") and getattr(value, "ndim", 0) == 2


def _samples(value: Any) -> bool:
    return isinstance(value, list) and bool(value)


def fits(value: Any, example: Any) -> bool:
    """value holds rows shaped like example."""
    if isinstance(example, dict) and example:
        return is_frame(value) and all(key in value.columns for key in example)
    if isinstance(example, list) and example:
        return (is_frame(value) or is_array(value)) and value.shape[1] == len(example)
    return False


def find(namespace: dict, example: Any, asked: str | None) -> tuple[Found | None, str]:
    """(the reference data or None, the one line the build log says about it)."""
    if asked == NONE:
        return None, "NBS2I_REFERENCE=none: no reference data, drift is off"
    for name, how in ((REFERENCE, f"the notebook's {REFERENCE}"), (asked, f"NBS2I_REFERENCE={asked}")):
        if not name:
            continue
        if name not in namespace:
            if name == REFERENCE:
                continue
            raise ReferenceError(f"NBS2I_REFERENCE={name}: the notebook defines no variable {name!r}. Name a "
                                 "DataFrame or array of the training features, or set NBS2I_REFERENCE=none.")
        value = namespace[name]
        if not (_samples(value) or fits(value, example)):
            raise ReferenceError(f"{how} is a {type(value).__name__} that does not hold rows shaped like the notebook's "
                                 "example (a DataFrame with its keys as columns, an array as wide as it, or a list of "
                                 "samples). Give the training features, or set NBS2I_REFERENCE=none.")
        return Found(name, value, len(value), how), f"reference data: {how} ({len(value):,} rows)"
    if example is None:
        return None, "no reference data: the notebook defines no example to match it by, so drift is off"
    matches = [(len(value), -order, name) for order, (name, value) in enumerate(namespace.items())
               if not name.startswith("_") and fits(value, example)]
    if not matches:
        unnamed = sorted((name for name, value in namespace.items() if not name.startswith("_")
                          and isinstance(example, dict) and is_array(value) and value.shape[1] == len(example)),
                         key=lambda name: -len(namespace[name]))  # the largest first
        hint = (f"; {unnamed[0]!r} is an array as wide as the example has keys: to profile it, define reference_data = "
                f"pandas.DataFrame({unnamed[0]}, columns={list(example)!r})" if unnamed else
                " (define reference_data, or set NBS2I_REFERENCE=NAME)")
        return None, f"no reference data: no DataFrame or array in the notebook is shaped like its example, so drift is off{hint}"
    rows, _, name = max(matches)
    return Found(name, namespace[name], rows, "found"), (f"reference data: the notebook's {name!r} ({rows:,} rows, "
                                                         "the largest shaped like its example)")


def samples(found: Found, example: Any, count: int) -> Iterator[Any]:
    """Up to count rows spread over the data, each as a client would send it (JSON)."""
    step = max(1, found.rows // max(count, 1))
    for index in range(0, found.rows, step)[:count]:
        yield answers.as_sent(_row(found.data, index, example))


def _row(data: Any, index: int, example: Any) -> Any:
    if is_frame(data):
        row = data.iloc[index]
        if example is None:  # reference_data without an example: a sample is a row's columns by name
            return {str(key): row[key] for key in data.columns}
        return {key: row[key] for key in example} if isinstance(example, dict) else list(row)
    return data[index].tolist() if is_array(data) else data[index]
