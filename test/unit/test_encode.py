"""JSON encoding of predictions: numpy and pandas converted, NaN as null."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from nbs2i_service import encode


@pytest.mark.parametrize("value, expected", [
    (np.float32(1.5), 1.5),
    (np.int64(3), 3),
    (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
    (np.array([1.0, np.nan]), [1.0, None]),
    (pd.Series([1, 2]), [1, 2]),
    (pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
    ({"p": math.inf, "q": [math.nan]}, {"p": None, "q": [None]}),
    ({1: "a"}, {"1": "a"}),
])
def test_values_become_json(value, expected):
    assert json.loads(encode.dumps(value)) == expected


def test_without_orjson_the_same(monkeypatch):
    monkeypatch.setattr(encode, "orjson", None)
    assert json.loads(encode.dumps({"a": np.array([np.inf, 2])})) == {"a": [None, 2.0]}
    with pytest.raises(encode.DecodeError):
        encode.loads(b'{"a": NaN}')


def test_unencodable_raises_type_error():
    with pytest.raises(TypeError):
        encode.dumps({"a": object()})


def test_engine_values_become_what_json_holds():
    from decimal import Decimal

    import numpy as np
    import pandas as pd
    from nbs2i_service.pipe import plain

    row = {"a": np.float64(1.5), "b": np.int64(2), "c": float("nan"), "d": pd.NA, "e": np.array([1, 2]),
           "f": pd.Timestamp("2026-01-02"), "g": Decimal("1.25"), "h": float("inf")}
    assert plain(row) == {"a": 1.5, "b": 2, "c": None, "d": None, "e": [1, 2], "f": "2026-01-02T00:00:00",
                          "g": "1.25", "h": None}
