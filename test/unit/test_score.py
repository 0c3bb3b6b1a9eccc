"""Batch scoring (nbs2i_service.score) with an in-memory model: order, errors, formats."""
from __future__ import annotations

import io
import json

from nbs2i_service import score
from test.unit.service_fixtures import model


def run(text: str, fmt: str = "jsonl", batch_size: int = 2, **kw) -> tuple[list[dict], dict]:
    sink = io.BytesIO()
    counts = score.run(model(**kw), io.StringIO(text), sink, fmt, batch_size)
    return [json.loads(line) for line in sink.getvalue().splitlines()], counts


def test_jsonl_answers_in_order_with_errors_inline():
    lines, counts = run('{"x": 1}\n{"x": 2\n\n{"y": 3}\n{"x": 1, "boom": true}\n{"x": 4}\n')
    assert lines[0] == {"prediction": 2}
    assert lines[1]["error"]["code"] == "malformed_json" and lines[1]["error"]["line"] == 2
    assert lines[2]["error"] == {"code": "rejected", "message": "input_schema: 'x' is a required property at $", "line": 4}
    assert lines[3]["error"]["code"] == "prediction_failed" and "RuntimeError" in lines[3]["error"]["message"]
    assert lines[4] == {"prediction": 8}
    assert counts == {"samples": 5, "errors": 3}


def test_csv_rows_become_dicts_with_numbers():
    lines, _ = run("x,label\n3,a\n2.5,\n", fmt="csv")
    assert lines == [{"prediction": 6}, {"prediction": 5.0}]


def test_batch_predictor_is_used_and_a_failing_batch_is_split():
    lines, _ = run('{"x": 1}\n{"x": 2}\n{"x": 3}\n', batch=True, batch_size=3)
    assert lines == [{"prediction": 2}, {"prediction": 4}, {"prediction": 6}]
    # a batch with a sample the batch_predictor cannot take is scored one by one
    lines, _ = run('{"x": 1}\n{"x": 2, "boom": true}\n', batch=True, batch_size=2)
    assert lines[0] == {"prediction": 2} and lines[1]["error"]["code"] == "prediction_failed"


def test_unencodable_prediction_is_an_error_line():
    lines, _ = run('{"x": 1, "object": true}\n')
    assert lines[0]["error"]["code"] == "unencodable_prediction"
