"""The service under adversity, against a real `nbs2i serve` (gunicorn, the gevent worker):
stalled clients, request framing and sizes, concurrent requests gathered into batches,
and a LightGBM model (OpenMP) served with fewer workers than CPUs."""
from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from test.helpers import Service, build_notebook, request

pytestmark = pytest.mark.slow

# A notebook as people write one with a vectorised scorer: predictor for one sample,
# batch_predictor for many (slow enough that concurrent requests pile up behind it).
TRIPLER = ["import time",
           "def _busy(seconds):\n    end = time.perf_counter() + seconds\n    while time.perf_counter() < end:\n        pass",
           "def validator(sample):\n    return isinstance(sample, dict) and isinstance(sample.get('x'), (int, float))",
           "def predictor(sample):\n    _busy(0.002)\n    time.sleep(sample.get('sleep', 0))\n"
           "    if sample.get('boom'):\n        raise ValueError('boom')\n"
           "    return sample['x'] * 3 + 1",
           "def batch_predictor(samples):\n    _busy(0.002)\n    if any(s.get('boom') for s in samples):\n"
           "        raise ValueError('one bad sample spoils the batch')\n    return [s['x'] * 3 + 1 for s in samples]",
           "example = {'x': 1}"]


@pytest.fixture(scope="module")
def tripler(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("tripler"), *TRIPLER)


def _stall(port: int, head: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head)
    return s


def _answer(s: socket.socket, timeout: float) -> bytes:
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except socket.timeout:
        pass
    return data


def _json_error(raw: bytes) -> tuple[int, dict, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body) if body else {}


def test_stalled_clients_cost_a_connection_not_the_service(tripler):
    with Service(tripler, workers=2, NBS2I_CLIENT_TIMEOUT="4") as svc:
        head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        stalled = [_stall(svc.port, head + (b"Content-Length: 100\r\n\r\n[0.5," if i % 2 else b"X-Slow: 1"))
                   for i in range(64)]
        time.sleep(0.3)
        started = time.monotonic()
        assert request(svc.url + "/health/ready", timeout=2)[0] == 200
        assert request(svc.url + "/predict", {"x": 2}, timeout=2)[2] == {"prediction": 7}
        assert time.monotonic() - started < 2
        answers = [_answer(s, 10) for s in stalled]
        waited = time.monotonic() - started
        for raw in answers:
            status, headers, body = _json_error(raw)
            assert status == 408 and headers["content-type"] == "application/json"
            assert body["error"]["code"] == "request_timeout"
            assert "within 4 s (NBS2I_CLIENT_TIMEOUT)" in body["error"]["message"]
        assert 3 < waited < 12
        assert request(svc.url + "/predict", {"x": 3}, timeout=2)[2] == {"prediction": 10}


def test_a_predictor_that_waits_past_the_timeout_gets_504_and_others_are_served(tripler):
    with Service(tripler, workers=1, NBS2I_PREDICT_TIMEOUT="2") as svc:
        with ThreadPoolExecutor(2) as pool:
            stuck = pool.submit(lambda: request(svc.url + "/predict", {"x": 1, "sleep": 30}, timeout=20))
            time.sleep(0.2)
            started = time.monotonic()
            assert request(svc.url + "/predict", {"x": 2}, timeout=2)[2] == {"prediction": 7}
            assert time.monotonic() - started < 1
            status, headers, body = stuck.result()
        assert status == 504 and headers["Content-Type"] == "application/json"
        assert body["error"]["code"] == "prediction_timeout" and "NBS2I_PREDICT_TIMEOUT" in body["error"]["message"]
        assert request(svc.url + "/predict", {"x": 3})[2] == {"prediction": 10}


def test_keep_alive_serves_many_requests_on_one_connection(tripler):
    with Service(tripler, workers=1) as svc:
        conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=5)
        for x in range(5):
            conn.request("POST", "/predict", body=json.dumps({"x": x}), headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {"prediction": 3 * x + 1}
        conn.request("GET", "/health/live")
        assert conn.getresponse().read() == b'{"status":"alive"}'
        conn.close()


def _chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


POST = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-ID: fz-1\r\n"


@pytest.mark.parametrize("raw, status, code", [
    # a body over the limit is refused whatever its framing, never truncated and scored
    (POST + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(b'{"x": 1}', b" " * 1500), 413, "request_entity_too_large"),
    (POST + b"Content-Length: 5000\r\n\r\n" + b'{"x": 1}' + b" " * 4992, 413, "request_entity_too_large"),
    # framing the client got wrong is the client's error
    (POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "bad_request"),
    (POST + b"Transfer-Encoding: gzip, chunked, chunked\r\n\r\n0\r\n\r\n", 400, "bad_request"),
    (POST + b"Transfer-Encoding: bogus\r\n\r\n", 501, "not_implemented"),
    # what gunicorn refuses before the app answers with the JSON error document
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431,
     "request_header_fields_too_large"),
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "bad_request"),
])
def test_refusals_are_json_and_within_the_limit(tripler, raw, status, code):
    with Service(tripler, workers=1, NBS2I_MAX_REQUEST_BYTES="1000") as svc:
        s = socket.create_connection(("127.0.0.1", svc.port))
        s.sendall(raw)
        got, headers, body = _json_error(_answer(s, 5))
        s.close()
        assert (got, body["error"]["code"]) == (status, code), body
        assert headers["content-type"] == "application/json"
        assert int(headers["content-length"]) == len(json.dumps(body, separators=(",", ":")))
        if got == 413:
            assert "over the limit of 1000 bytes (NBS2I_MAX_REQUEST_BYTES)" in body["error"]["message"]
            assert body["error"]["request_id"] == "fz-1"
        assert request(svc.url + "/predict", {"x": 1})[2] == {"prediction": 4}


def test_a_refused_head_request_has_no_body(tripler):
    with Service(tripler, workers=1) as svc:
        s = socket.create_connection(("127.0.0.1", svc.port))
        s.sendall(b"HEAD /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = _answer(s, 5)
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 414") and body == b""


def _metric(text: str, name: str) -> float:
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


def test_concurrent_requests_share_batch_predictor_calls(tripler):
    samples = [{"x": i} for i in range(320)]
    samples[17] = {"x": "not a number"}  # rejected (the example's shape): its own 422
    for i in (40, 141, 250):
        samples[i] = {"x": i, "boom": True}  # raises: its own 500, the batch is retried one by one
    with Service(tripler, workers=1) as svc:
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda s: request(svc.url + "/predict", s), samples))
        metrics = request(svc.url + "/metrics")[2]
        # /predict/batch keeps the same rule: the failing instance fails, named by its index
        status, _, body = request(svc.url + "/predict/batch", {"instances": [{"x": 1}, {"x": 2, "boom": True}]})
        log = svc.output()
    for i, (sample, (status_i, _, body_i)) in enumerate(zip(samples, answers)):
        if i == 17:
            assert status_i == 422 and "'not a number' is not of type 'number' at $.x" in body_i["error"]["message"]
        elif sample.get("boom"):
            assert status_i == 500 and body_i["error"]["code"] == "prediction_failed"
        else:
            assert (status_i, body_i) == (200, {"prediction": 3 * i + 1}), (i, body_i)
    batches, fallbacks = _metric(metrics, "nbs2i_batch_size_count"), _metric(metrics, "nbs2i_batch_fallbacks_total")
    # every accepted sample was scored by batch_predictor in some batch, or by predictor after a fallback
    assert 1 <= fallbacks <= 3 and _metric(metrics, "nbs2i_batch_size_sum") <= 319 - fallbacks
    assert _metric(metrics, "nbs2i_batch_size_sum") / batches > 1.5, metrics
    assert _metric(metrics, "nbs2i_prediction_errors_total") == 3
    assert _metric(metrics, "nbs2i_predictions_total") == 316
    assert 'nbs2i_batch_wait_seconds_bucket{le="+Inf"} %d' % batches in metrics
    # the broken batch is in the log, with its traceback, once a minute however often it happens
    assert log.count("batch_predictor failed on a batch of") == 1, log
    # the worker timed the example at start: 2 ms a sample alone, 2 ms a batch, so gathering pays
    assert re.search(r"batching: predictor \d+\.\d ms a sample, batch_predictor \S+ [mu]s a sample in 32, a gather "
                     r"\S+ [mu]s and \S+ [mu]s a sample: gathering when at least \d+ other request\(s\) are ready", log), log
    assert "ValueError: one bad sample spoils the batch" in log
    assert (status, body["error"]["details"]) == (500, {"failed": [1]})
    assert body["error"]["message"].startswith("The predictor raised ValueError on 1 of 2 samples; error id ")


def test_batching_off_scores_one_by_one(tripler):
    with Service(tripler, workers=1, NBS2I_BATCH_WAIT_MS="0") as svc:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda x: request(svc.url + "/predict", {"x": x})[2], range(40)))
        metrics = request(svc.url + "/metrics")[2]
    assert answers == [{"prediction": 3 * x + 1} for x in range(40)]
    assert _metric(metrics, "nbs2i_batch_size_count") == 0


# LightGBM's own way of training, as in its examples: lgb.train on a Dataset. Unpickling the
# booster runs OpenMP; a pool started in gunicorn's master would hang the forked worker.
LIGHTGBM = ["requirements = ['lightgbm', 'scikit-learn']",
            "import lightgbm as lgb\nfrom sklearn.datasets import load_breast_cancer",
            "X, y = load_breast_cancer(return_X_y=True)\ntrain_data = lgb.Dataset(X, label=y)",
            "params = {'objective': 'binary', 'num_leaves': 15, 'verbose': -1}\n"
            "bst = lgb.train(params, train_data, num_boost_round=20)",
            "def predictor(sample):\n    return float(bst.predict([sample])[0])\n\n"
            "def batch_predictor(samples):\n    return [float(p) for p in bst.predict(samples)]\n\nexample = X[0].tolist()"]


def test_lightgbm_serves_with_fewer_workers_than_cpus(tmp_path):
    out = build_notebook(tmp_path, *LIGHTGBM)
    example = json.loads((out / "model" / "metadata.json").read_text())["example"]
    for workers in (1, 2, 4):
        with Service(out, workers=workers) as svc:
            status, _, body = request(svc.url + "/predict", example, timeout=20)
            assert status == 200 and 0 <= body["prediction"] <= 1, (workers, svc.output()[-2000:])
            status, _, body = request(svc.url + "/predict/batch", {"instances": [example] * 50}, timeout=20)
            assert status == 200 and len(body["predictions"]) == 50
