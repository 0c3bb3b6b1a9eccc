"""Metrics: Prometheus text, shared by forked workers through one memory map."""
from __future__ import annotations

import os

from nbs2i_service.metrics import Metrics


def test_render_counts_and_histogram():
    m = Metrics(["predict"], "kmeans", "b1")
    m.observe("predict", 200, 0.003)
    m.observe("predict", 422, 0.2)
    m.observe("mystery", 418, 0.5)
    m.predicted()
    m.predicted(failed=True)
    text = m.render()
    assert 'nbs2i_requests_total{endpoint="predict",status="200"} 1' in text
    assert 'nbs2i_requests_total{endpoint="other",status="other"} 1' in text
    assert 'nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.005"} 1' in text
    assert 'nbs2i_request_duration_seconds_bucket{endpoint="predict",le="+Inf"} 2' in text
    assert 'nbs2i_request_duration_seconds_count{endpoint="predict"} 2' in text
    assert "nbs2i_predictions_total 1" in text and "nbs2i_prediction_errors_total 1" in text
    assert 'nbs2i_model_info{model="kmeans",build_id="b1"} 1' in text


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
    assert 'nbs2i_requests_total{endpoint="predict",status="200"} 1500' in m.render()
