"""The service as a process: SIGTERM with a prediction in flight, and refusing bad models."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from test.helpers import Service, build_notebook, request

pytestmark = pytest.mark.slow

SLOW = ["import time", "def predictor(sample):\n    if 'mark' in sample:\n        open(sample['mark'], 'w').close()\n"
        "    time.sleep(sample.get('sleep', 0))\n    return sample['x'] + 1",
        "example = {'x': 1}"]


@pytest.fixture(scope="module")
def slow_out(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("slow"), *SLOW)


def test_sigterm_lets_the_prediction_in_flight_finish(slow_out, tmp_path):
    svc = Service(slow_out, workers=1).wait_ready()
    answer = {}
    mark = tmp_path / "predicting"
    thread = threading.Thread(target=lambda: answer.update(
        r=request(svc.url + "/predict", {"x": 1, "sleep": 2, "mark": str(mark)}, timeout=30)))
    thread.start()
    deadline = time.monotonic() + 10
    while not mark.exists():  # the predictor has started: the request is in flight
        assert time.monotonic() < deadline, svc.output()
        time.sleep(0.02)
    started = time.monotonic()
    code = svc.stop(timeout=30)
    thread.join()
    assert code == 0
    assert answer["r"][0] == 200 and answer["r"][2] == {"prediction": 2}
    assert time.monotonic() - started < 10


def _refused(out, **env) -> str:
    svc = Service(out, workers=1, **env)
    try:
        code = svc.proc.wait(timeout=60)
    finally:
        svc.log.close()
    assert code == 3  # docs/api.md: a refused model exits 3
    return svc.log_path.read_text()


def test_tampered_artifact_is_refused(tmp_path, slow_out):
    artifact = slow_out / "model" / "model.pkl"
    original = artifact.read_bytes()
    try:
        artifact.write_bytes(original + b"\x00")
        log = _refused(slow_out)
        assert "refusing to start" in log and "sha256" in log and "rebuild it with `nbs2i build`" in log
    finally:
        artifact.write_bytes(original)


@pytest.mark.parametrize("env, worker, booted", [
    ({}, "nbs2i_service.worker.Worker", None),                     # the default: gevent, one worker per CPU
    ({"WEB_CONCURRENCY": "3"}, "nbs2i_service.worker.Worker", 3),
    ({"NBS2I_THREADS": "3", "WEB_CONCURRENCY": "1"}, "gthread", 1),  # threads: gunicorn's gthread worker
    ({"GUNICORN_CMD_ARGS": "--worker-class sync --workers 2"}, "sync", 2),  # gunicorn's own override wins
])
def test_worker_settings_reach_gunicorn(slow_out, env, worker, booted):
    import os
    import re

    svc = Service(slow_out, workers=None, **env).wait_ready()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda x: request(svc.url + "/predict", {"x": x})[2], range(8)))
        assert answers == [{"prediction": x + 1} for x in range(8)]
    finally:
        assert svc.stop() == 0
    log = svc.log_path.read_text()
    assert f"Using worker: {worker}" in log
    expected = booted or len(os.sched_getaffinity(0))
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", log))) == expected, log
