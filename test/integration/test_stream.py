"""The Redis stream worker against a real redis-server on a loopback port: killed mid-stream
and restarted, every sample gets exactly one prediction or dead-letter entry."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from test.helpers import NBS2I, build_env, build_notebook, free_port, request

pytestmark = pytest.mark.slow

CELLS = ["import time",
         "def predictor(sample):\n    time.sleep(0.004)\n    return sample['x'] + 1",
         "def validator(sample):\n    return isinstance(sample, dict) and 'x' in sample",
         "example = {'x': 1}"]
SAMPLES = 600


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("stream"), *CELLS)


def _worker(out, url: str, consumer: str, port: int, claim_idle_ms: int = 500) -> subprocess.Popen:
    env = build_env(NBS2I_REDIS_URL=url, NBS2I_STREAM_CONSUMER=consumer, NBS2I_STREAM_BATCH="20",
                    NBS2I_STREAM_CLAIM_IDLE_MS=str(claim_idle_ms), NBS2I_STREAM_BLOCK_MS="200", PORT=str(port),
                    NBS2I_HOST="127.0.0.1")
    return subprocess.Popen([NBS2I, "stream", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError


def test_kill_mid_stream_and_restart_loses_nothing(out, redis_url):
    url, client = redis_url
    ids = {}
    for i in range(SAMPLES):
        sample = {"y": i} if i % 50 == 0 else {"x": i}
        ids[client.xadd("nbs2i:samples", {"sample": json.dumps(sample)}).decode()] = i
    client.xadd("nbs2i:samples", {"sample": "{not json"})
    port = free_port()
    first = _worker(out, url, "pod-a", port)
    _wait(lambda: client.xlen("nbs2i:predictions") > 150)
    first.send_signal(signal.SIGKILL)  # mid-batch: no chance to finish or acknowledge
    first.wait()
    assert client.xlen("nbs2i:predictions") < SAMPLES  # it really stopped part-way

    second = _worker(out, url, "pod-b", port)  # a new pod: claims pod-a's pending batch
    try:
        _wait(lambda: client.xlen("nbs2i:predictions") + client.xlen("nbs2i:dead-letter") >= SAMPLES + 1)
        _wait(lambda: request(f"http://127.0.0.1:{port}/health/ready")[0] == 200, 10)
        metrics = request(f"http://127.0.0.1:{port}/metrics")[2]
        assert 'nbs2i_requests_total{endpoint="stream",status="200"}' in metrics
        time.sleep(0.5)
        pending = client.xpending("nbs2i:samples", "nbs2i")["pending"]
        assert pending == 0
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0  # SIGTERM: finishes its batch and exits cleanly

    answered = {}
    for _, fields in client.xrange("nbs2i:predictions"):
        key = fields[b"id"].decode()
        assert key not in answered, "duplicate prediction"
        answered[key] = json.loads(fields[b"prediction"])
    dead = {}
    for _, fields in client.xrange("nbs2i:dead-letter"):
        key = fields[b"id"].decode()
        assert key not in dead and key not in answered, "duplicate record"
        dead[key] = fields[b"reason"].decode()
    assert len(answered) + len(dead) == SAMPLES + 1
    for key, i in ids.items():
        if i % 50 == 0:
            assert dead[key] == "rejected: rejected by validator (it returned False)"
        else:
            assert answered[key] == i + 1
    assert any(reason.startswith("malformed_json") for reason in dead.values())


def test_a_stable_consumer_resumes_its_own_batch_at_once(out, redis_url):
    """Restarted under the same NBS2I_STREAM_CONSUMER (a StatefulSet's pod name), a worker reads
    the batch it never acknowledged first, without waiting for another to claim it."""
    url, client = redis_url
    for i in range(300):
        client.xadd("nbs2i:samples", {"sample": json.dumps({"x": i})})
    port = free_port()
    hour = 3_600_000  # no claiming of idle entries within this test: only its own reading can finish
    first = _worker(out, url, "pod-0", port, claim_idle_ms=hour)
    _wait(lambda: client.xlen("nbs2i:predictions") > 60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    owned = client.xpending_range("nbs2i:samples", "nbs2i", "-", "+", 1000, consumername="pod-0")
    assert owned  # killed mid-batch: entries read, never acknowledged
    again = _worker(out, url, "pod-0", port, claim_idle_ms=hour)
    try:
        _wait(lambda: client.xlen("nbs2i:predictions") >= 300, 30)
        assert client.xpending("nbs2i:samples", "nbs2i")["pending"] == 0
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=20) == 0
    answered = [json.loads(f[b"prediction"]) for _, f in client.xrange("nbs2i:predictions")]
    assert sorted(answered) == list(range(1, 301))  # each once: the resumed batch was not scored twice
