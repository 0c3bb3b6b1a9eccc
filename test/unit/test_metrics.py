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


# One scrape, whole and exact: every HELP and TYPE line, every bucket of every endpoint that
# answered (a bound hit exactly counts in that bucket; past the last bound only in +Inf),
# batch histograms, counters. Checked by hand against the Prometheus text format 0.0.4.
EXPOSITION = """\
# HELP nbs2i_requests_total HTTP requests by endpoint and status.
# TYPE nbs2i_requests_total counter
nbs2i_requests_total{endpoint="predict",status="200"} 2
nbs2i_requests_total{endpoint="batch",status="200"} 1
nbs2i_requests_total{endpoint="batch",status="422"} 1
nbs2i_requests_total{endpoint="other",status="other"} 1
# HELP nbs2i_request_duration_seconds Time to answer a request.
# TYPE nbs2i_request_duration_seconds histogram
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.001"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.0025"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.005"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.01"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.025"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.05"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.1"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.25"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="0.5"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="1"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="2.5"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="5"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="10"} 2
nbs2i_request_duration_seconds_bucket{endpoint="predict",le="+Inf"} 2
nbs2i_request_duration_seconds_sum{endpoint="predict"} 0.001500
nbs2i_request_duration_seconds_count{endpoint="predict"} 2
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.001"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.0025"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.005"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.01"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.025"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.05"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.1"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.25"} 0
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="0.5"} 1
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="1"} 1
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="2.5"} 1
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="5"} 1
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="10"} 1
nbs2i_request_duration_seconds_bucket{endpoint="batch",le="+Inf"} 2
nbs2i_request_duration_seconds_sum{endpoint="batch"} 11.300000
nbs2i_request_duration_seconds_count{endpoint="batch"} 2
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.001"} 0
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.0025"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.005"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.01"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.025"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.05"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.1"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.25"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="0.5"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="1"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="2.5"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="5"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="10"} 1
nbs2i_request_duration_seconds_bucket{endpoint="other",le="+Inf"} 1
nbs2i_request_duration_seconds_sum{endpoint="other"} 0.002000
nbs2i_request_duration_seconds_count{endpoint="other"} 1
# HELP nbs2i_predictions_total Samples scored.
# TYPE nbs2i_predictions_total counter
nbs2i_predictions_total 3
# HELP nbs2i_prediction_errors_total Predictor calls that raised.
# TYPE nbs2i_prediction_errors_total counter
nbs2i_prediction_errors_total 2
# HELP nbs2i_batch_fallbacks_total Batches batch_predictor failed on, scored again one by one.
# TYPE nbs2i_batch_fallbacks_total counter
nbs2i_batch_fallbacks_total 1
# HELP nbs2i_payload_log_events_total Payload-log events (NBS2I_LOG_URL) by what became of them.
# TYPE nbs2i_payload_log_events_total counter
nbs2i_payload_log_events_total{outcome="sent"} 2
nbs2i_payload_log_events_total{outcome="dropped"} 0
nbs2i_payload_log_events_total{outcome="failed"} 1
# HELP nbs2i_model_info The model this service serves.
# TYPE nbs2i_model_info gauge
nbs2i_model_info{model="kmeans",build_id="b1"} 1
# HELP nbs2i_batch_size Samples per batch_predictor call that scored requests gathered from concurrent /predict requests.
# TYPE nbs2i_batch_size histogram
nbs2i_batch_size_bucket{le="1"} 1
nbs2i_batch_size_bucket{le="2"} 2
nbs2i_batch_size_bucket{le="4"} 2
nbs2i_batch_size_bucket{le="8"} 2
nbs2i_batch_size_bucket{le="16"} 2
nbs2i_batch_size_bucket{le="32"} 2
nbs2i_batch_size_bucket{le="64"} 2
nbs2i_batch_size_bucket{le="128"} 2
nbs2i_batch_size_bucket{le="256"} 2
nbs2i_batch_size_bucket{le="+Inf"} 3
nbs2i_batch_size_sum 303
nbs2i_batch_size_count 3
# HELP nbs2i_batch_wait_seconds Time a batch spent gathering before it was scored.
# TYPE nbs2i_batch_wait_seconds histogram
nbs2i_batch_wait_seconds_bucket{le="0.0001"} 2
nbs2i_batch_wait_seconds_bucket{le="0.00025"} 2
nbs2i_batch_wait_seconds_bucket{le="0.0005"} 2
nbs2i_batch_wait_seconds_bucket{le="0.001"} 2
nbs2i_batch_wait_seconds_bucket{le="0.002"} 2
nbs2i_batch_wait_seconds_bucket{le="0.005"} 2
nbs2i_batch_wait_seconds_bucket{le="0.01"} 2
nbs2i_batch_wait_seconds_bucket{le="0.025"} 2
nbs2i_batch_wait_seconds_bucket{le="+Inf"} 3
nbs2i_batch_wait_seconds_sum 0.5002
nbs2i_batch_wait_seconds_count 3
"""


def test_one_scrape_whole_and_exact():
    m = Metrics(["predict", "batch"], "kmeans", "b1")
    m.observe("predict", 200, 0.001)
    m.observe("predict", 200, 0.0005)
    m.observe("batch", 422, 0.3)
    m.observe("batch", 200, 11.0)
    m.observe("mystery", 418, 0.002)
    m.predicted(3)
    m.predicted(2, failed=True)
    m.fell_back(4)
    m.payload("sent")
    m.payload("failed")
    m.payload("sent")
    m.batched(1, 0.0001)
    m.batched(2, 0.0001)
    m.batched(300, 0.5)
    assert m.render() == EXPOSITION


def test_prometheus_own_parser_reads_every_family():
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(EXPOSITION)}
    assert {name: f.type for name, f in families.items()} == {
        "nbs2i_requests": "counter", "nbs2i_request_duration_seconds": "histogram", "nbs2i_predictions": "counter",
        "nbs2i_prediction_errors": "counter", "nbs2i_batch_fallbacks": "counter", "nbs2i_payload_log_events": "counter",
        "nbs2i_model_info": "gauge", "nbs2i_batch_size": "histogram",
        "nbs2i_batch_wait_seconds": "histogram"}
    assert families["nbs2i_batch_size"].documentation.startswith("Samples per batch_predictor call")


def test_a_new_service_shows_zeros_and_no_request_lines():
    lines = Metrics(["predict"], "m", "b").render().splitlines()
    assert [line for line in lines if not line.startswith("#")] == [
        "nbs2i_predictions_total 0", "nbs2i_prediction_errors_total 0", "nbs2i_batch_fallbacks_total 0",
        *[f'nbs2i_payload_log_events_total{{outcome="{o}"}} 0' for o in ("sent", "dropped", "failed")],
        'nbs2i_model_info{model="m",build_id="b"} 1',
        *[f'nbs2i_batch_size_bucket{{le="{b}"}} 0' for b in ("1", "2", "4", "8", "16", "32", "64", "128", "256", "+Inf")],
        "nbs2i_batch_size_sum 0", "nbs2i_batch_size_count 0",
        *[f'nbs2i_batch_wait_seconds_bucket{{le="{b}"}} 0'
          for b in ("0.0001", "0.00025", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.025", "+Inf")],
        "nbs2i_batch_wait_seconds_sum 0", "nbs2i_batch_wait_seconds_count 0"]


def test_an_endpoint_with_no_requests_does_not_hide_the_ones_after_it():
    m = Metrics(["predict", "batch"], "m", "b")
    m.observe("batch", 200, 0.02)
    lines = _lines(m)
    assert 'nbs2i_request_duration_seconds_count{endpoint="batch"} 1' in lines
    assert not any('endpoint="predict"' in line for line in lines)
