"""The service as gunicorn runs it, where it used to misbehave quietly: what the notebook bound
at load cooperates with the gevent worker, every refusal is counted and logged, truncated
bodies never reach the model, each worker's thread pools are its share of the CPUs, a stop
logs what gunicorn documents and nothing else, and the smoke test fails on a broken service."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from test.helpers import Service, build_notebook, request

pytestmark = pytest.mark.slow

# `from time import sleep` binds the function at load, before gevent's worker patches time:
# unless the master patched first, every call blocks the whole worker.
SLEEPER = ["requirements = ['numpy', 'threadpoolctl']",
           "import os\nfrom time import sleep\nimport numpy as np\nimport threadpoolctl",
           "def predictor(sample):\n    if 'mark' in sample:\n        open(sample['mark'], 'w').close()\n"
           "    sleep(sample.get('sleep', 0))\n    if sample.get('pools'):\n"
           "        return {'pid': os.getpid(), 'pools': {p['user_api']: p['num_threads'] for p in "
           "threadpoolctl.threadpool_info()}, 'dot': float(np.ones(3) @ np.ones(3))}\n"
           "    return sample['x'] + 1",
           "example = {'x': 1}"]


@pytest.fixture(scope="module")
def sleeper(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("sleeper"), *SLEEPER)


def test_a_sleep_bound_at_load_lets_the_worker_serve_others(sleeper):
    with Service(sleeper, workers=1) as svc:
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda x: request(svc.url + "/predict", {"x": x, "sleep": 0.5})[2], range(4)))
        elapsed = time.monotonic() - started
    assert answers == [{"prediction": x + 1} for x in range(4)]
    assert elapsed < 1.5, elapsed  # one after another they take 2 s


def test_a_stuck_prediction_bound_at_load_answers_504_and_the_worker_serves_on(sleeper):
    with Service(sleeper, workers=1, NBS2I_PREDICT_TIMEOUT="2") as svc:
        with ThreadPoolExecutor(2) as pool:
            stuck = pool.submit(lambda: request(svc.url + "/predict", {"x": 1, "sleep": 30}, timeout=20))
            time.sleep(0.3)
            assert request(svc.url + "/predict", {"x": 2}, timeout=2)[2] == {"prediction": 3}
            status, _, body = stuck.result()
        assert (status, body["error"]["code"]) == (504, "prediction_timeout")
        assert request(svc.url + "/predict", {"x": 3})[2] == {"prediction": 4}


def _raw(port: int, data: bytes, half_close: bool = False, wait: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(wait)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except socket.timeout:
            pass
    return got


def _status(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


HEAD = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_every_refusal_is_counted_logged_and_a_truncated_body_never_reaches_the_model(sleeper, tmp_path):
    mark = tmp_path / "scored"
    sample = json.dumps({"x": 1, "mark": str(mark)}).encode()  # valid JSON, shorter than it says
    env = dict(NBS2I_CLIENT_TIMEOUT="2", NBS2I_MAX_REQUEST_BYTES="1000", NBS2I_PREDICT_TIMEOUT="2")
    with Service(sleeper, workers=1, **env) as svc:
        truncated = _raw(svc.port, HEAD + b"Content-Length: %d\r\n\r\n" % (len(sample) + 50) + sample, half_close=True)
        chunked = _raw(svc.port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(sample), sample),
                       half_close=True)
        too_large = _raw(svc.port, HEAD + b"Content-Length: 5000\r\n\r\n" + b" " * 5000)
        too_slow = _raw(svc.port, HEAD + b"Content-Length: 100\r\n\r\n[0.5,")
        stuck = request(svc.url + "/predict", {"x": 1, "sleep": 30}, timeout=20)
        metrics = request(svc.url + "/metrics")[2]
        log = svc.output()
    assert _status(truncated) == (400, {"error": {
        "code": "truncated_body", "message": f"The body ended after {len(sample)} of the {len(sample) + 50} bytes its "
        "Content-Length announced; send the whole body.", "request_id": _status(truncated)[1]["error"]["request_id"]}})
    assert _status(chunked)[0] == 400 and _status(chunked)[1]["error"]["message"] == (
        "The body ended before its last chunk; send the whole body.")
    assert not mark.exists()  # neither reached the model
    assert [_status(r)[0] for r in (too_large, too_slow)] == [413, 408] and stuck[0] == 504
    for status, count in ((400, 2), (408, 1), (413, 1), (504, 1)):
        assert f'nbs2i_requests_total{{endpoint="predict",status="{status}"}} {count}' in metrics.splitlines(), metrics
    logged = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]
    assert sorted(r["status"] for r in logged if r["path"] == "/predict") == [400, 400, 408, 413, 504]
    assert "nbs2i_predictions_total 0" in metrics.splitlines()


def _pools(svc: Service, workers: int) -> dict[int, dict]:
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + 30
    while len(seen) < workers and time.monotonic() < deadline:
        with ThreadPoolExecutor(4) as pool:  # concurrent, so that every worker takes some
            for _, _, body in pool.map(lambda _: request(svc.url + "/predict", {"x": 0, "pools": True}), range(8)):
                seen[body["prediction"]["pid"]] = body["prediction"]["pools"]
    return seen


@pytest.mark.parametrize("workers", [1, 2])
def test_each_workers_thread_pools_are_its_share_of_the_cpus(sleeper, workers):
    cpus = len(os.sched_getaffinity(0))
    with Service(sleeper, workers=workers) as svc:
        seen = _pools(svc, workers)
    assert len(seen) == workers, seen
    for pools in seen.values():  # docs/api.md: CPUs / workers threads in each numeric pool
        assert pools and set(pools.values()) == {max(1, cpus // workers)}, (pools, cpus)


def test_a_stop_logs_what_gunicorn_documents_and_no_traceback(sleeper):
    svc = Service(sleeper, workers=2).wait_ready()
    assert request(svc.url + "/predict", {"x": 1})[2] == {"prediction": 2}
    assert svc.stop() == 0
    log = svc.log_path.read_text()
    booted = re.findall(r"Booting worker with pid: (\d+)", log)
    stop = log[log.index("Handling signal: term"):]
    assert len(booted) == 2 and all(f"Worker exiting (pid: {pid})" in stop for pid in booted), log
    assert stop.rstrip().endswith("Shutting down: Master"), stop
    for noise in ("Traceback", "Exception ignored", "Error", "Warning"):
        assert noise not in log, log


def test_the_smoke_test_fails_when_serving_cannot_import_gevent(sleeper, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(sleeper, copy, symlinks=True)
    site = next((copy / "venv" / "lib").glob("python*/site-packages"))
    shutil.rmtree(site / "gevent")
    result = subprocess.run([str(copy / "venv" / "bin" / "python"), "-m", "nbs2i_service.smoke", str(copy / "model")],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 1
    assert result.stderr.startswith("serving needs the module gevent, which does not import in the served environment "
                                    "(ModuleNotFoundError: No module named 'gevent')"), result.stderr
