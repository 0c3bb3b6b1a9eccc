"""Metrics: Prometheus text, shared by forked workers through one memory map. Every check
matches a whole line, so a count that is 10 times too big (`1` inside `10`) fails."""
from __future__ import annotations

import os

from nbs2i_service.metrics import Metrics


def _lines(m: Metrics) -> set[str]:
    return set(m.render().splitlines())


def test_render_counts_and_histogram():
    m = Metrics(["predict"], "kmeans", "b1")
    m.observe("predict", 200, 0.003)
    m.observe("predict", 422, 0.2)
    m.observe("mystery", 418, 0.5)
    m.predicted()
    m.predicted(failed=True)
    lines = _lines(m)
    assert {'nbs2i_requests_total{endpoint="predict",status="200"} 1',
            'nbs2i_requests_total{endpoint="predict",status="422"} 1',
            'nbs2i_requests_total{endpoint="other",status="other"} 1',
            'nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.0025"} 0',
            'nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.005"} 1',
            'nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.25"} 2',
            'nbs2i_request_duration_seconds_bucket{endpoint="predict",le="+Inf"} 2',
            'nbs2i_request_duration_seconds_sum{endpoint="predict"} 0.203000',
            'nbs2i_request_duration_seconds_count{endpoint="predict"} 2',
            "nbs2i_predictions_total 1", "nbs2i_prediction_errors_total 1",
            'nbs2i_model_info{model="kmeans",build_id="b1"} 1'} <= lines
    assert not any(line.startswith('nbs2i_requests_total{endpoint="predict",status="500"}') for line in lines)


def test_counters_are_exact_past_a_million():
    m = Metrics(["predict"], "m", "b")
    m.predicted(1_234_567)
    m.batched(3, 0.0015)
    lines = _lines(m)
    assert "nbs2i_predictions_total 1234567" in lines  # not 1.23457e+06
    assert {'nbs2i_batch_size_bucket{le="2"} 0', 'nbs2i_batch_size_bucket{le="4"} 1', "nbs2i_batch_size_sum 3",
            "nbs2i_batch_size_count 1", 'nbs2i_batch_wait_seconds_bucket{le="0.002"} 1',
            "nbs2i_batch_wait_seconds_sum 0.0015"} <= lines


def test_labels_are_escaped():
    lines = _lines(Metrics(["predict"], 'we"ird\\name\nx', "b"))
    assert 'nbs2i_model_info{model="we\\"ird\\\\name\\nx",build_id="b"} 1' in lines


def test_counts_from_forked_children_add_up():
    m = Metrics(["predict"], "m", "b")
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # a "worker": counts and leaves without running pytest's teardown
            for _ in range(500):
                m.observe("predict", 200, 0.001)
            os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    assert 'nbs2i_requests_total{endpoint="predict",status="200"} 1500' in _lines(m)
