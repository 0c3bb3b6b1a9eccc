"""The service as a process: SIGTERM with a prediction in flight, and refusing bad models."""
from __future__ import annotations

import json
import threading
import time

import pytest

from test.helpers import Service, build_notebook, request

pytestmark = pytest.mark.slow

SLOW = ["import time", "def predictor(sample):\n    time.sleep(sample.get('sleep', 0))\n    return sample['x'] + 1",
        "example = {'x': 1}"]


@pytest.fixture(scope="module")
def slow_out(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("slow"), *SLOW)


@pytest.fixture(scope="module")
def signed_out(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("signed"), *SLOW, NBS2I_SIGNING_KEY="k1")


def test_sigterm_lets_the_prediction_in_flight_finish(slow_out):
    svc = Service(slow_out, workers=1).wait_ready()
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(r=request(svc.url + "/predict", {"x": 1, "sleep": 2})))
    thread.start()
    time.sleep(0.7)
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
    assert code != 0
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


def test_signed_artifact(signed_out, slow_out):
    meta = json.loads((signed_out / "model" / "metadata.json").read_text())
    assert len(meta["artifact_hmac_sha256"]) == 64
    with Service(signed_out, workers=1, NBS2I_SIGNING_KEY="k1") as svc:
        assert request(svc.url + "/predict", {"x": 4})[2] == {"prediction": 5}
        assert "artifact_hmac_sha256" not in request(svc.url + "/metadata")[2]
    assert "signature does not match NBS2I_SIGNING_KEY" in _refused(signed_out, NBS2I_SIGNING_KEY="other")
    assert "the artifact is unsigned" in _refused(slow_out, NBS2I_SIGNING_KEY="k1")
