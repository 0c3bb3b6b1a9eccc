"""Day two, for real: a notebook that never mentions drift builds with a profile of its training
frame; served, samples like the training data keep every feature's PSI low and a shifted
feature drifts (in /metrics, /drift, the page and `nbs2i drift`); no training row is in OUT;
each request and answer reaches a CloudEvents receiver and a Redis stream as KServe's payload
logger sends them, and a sink that is down costs no prediction."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from test.helpers import NBS2I, Service, build_env, build_notebook, free_port, request

pytestmark = pytest.mark.slow

# A tabular notebook as people write one: a DataFrame of numeric and categorical features
# (and the label), a model of its own, dict samples and an example. Nothing about drift.
TABULAR = ["requirements = ['pandas', 'numpy']",
           "import numpy as np\nimport pandas as pd",
           "rng = np.random.default_rng(0)\nn = 3000\n"
           "train = pd.DataFrame({'age': rng.normal(40, 10, n), 'income': rng.lognormal(10, 0.5, n),\n"
           "                      'colour': rng.choice(['red', 'green', 'blue'], n), 'label': rng.integers(0, 2, n)})\n"
           "train.to_csv('train.csv', index=False)  # beside the notebook, for the test to look for",
           "weights = train.groupby('colour')['label'].mean().to_dict()",
           "def predictor(sample):\n    return round(0.01 * sample['age'] + weights.get(sample['colour'], 0.0), 4)",
           "example = {'age': 41.0, 'income': 22000.0, 'colour': 'red'}"]


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    root = tmp_path_factory.mktemp("tabular")
    out = build_notebook(root, *TABULAR)
    return root, out


def _like_training(n: int, seed: int, shift: float = 0.0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"age": float(a) + shift, "income": float(i), "colour": str(c)}
            for a, i, c in zip(rng.normal(40, 10, n), rng.lognormal(10, 0.5, n), rng.choice(["red", "green", "blue"], n))]


def _send(url: str, samples: list[dict]) -> None:
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda s: request(url + "/predict", s)[0], samples))
    assert statuses == [200] * len(samples)


def test_the_build_profiles_the_training_frame_and_keeps_no_row(tabular):
    root, out = tabular
    meta = json.loads((out / "model" / "metadata.json").read_text())
    assert meta["reference"]["variable"] == "train" and meta["reference"]["rows"] == 3000
    assert meta["reference"]["features"] == ["age", "income", "colour"] and meta["reference"]["prediction"]
    profile = json.loads((out / "model" / "reference.json").read_text())
    assert [f["kind"] for f in profile["features"]] == ["numeric", "numeric", "categorical"]
    # no training row anywhere in OUT: not one of the frame's numbers, as the notebook wrote them
    with open(root / "src" / "train.csv") as handle:
        values = sorted({v for row in csv.DictReader(handle) for k, v in row.items() if k in ("age", "income")})
    patterns = root / "patterns.txt"
    patterns.write_text("\n".join(v for v in values if len(v) > 8) + "\n")
    found = subprocess.run(["grep", "-rlF", "-f", str(patterns), str(out)], capture_output=True, text=True)
    assert found.returncode == 1 and found.stdout == "", found.stdout[:2000]  # 1: grep found nothing


def test_drift_stays_low_for_data_like_the_training_and_shows_a_shifted_feature(tabular, tmp_path):
    _, out = tabular
    with Service(out, workers=2) as svc:
        _send(svc.url, _like_training(1000, seed=1))
        calm = request(svc.url + "/drift")[2]
        _send(svc.url, _like_training(1000, seed=2, shift=30.0))  # age moved by three standard deviations
        shifted = request(svc.url + "/drift")[2]
        metrics = request(svc.url + "/metrics")[2]
    assert calm["window"] == {"size": 1000, "samples": 1000}
    assert all(f["psi"] < 0.1 for f in calm["features"]), calm["features"]
    psi = {f["name"]: f["psi"] for f in shifted["features"]}
    assert psi["age"] > 0.25 and psi["income"] < 0.1 and psi["colour"] < 0.1, psi
    assert shifted["drifted"] == ["age"] and shifted["prediction"]["drifted"]
    gauge = float(re.search(r'^nbs2i_feature_drift\{model="model",feature="age"\} (\S+)$', metrics, re.M).group(1))
    assert gauge == pytest.approx(psi["age"], rel=1e-3)
    assert 'nbs2i_drift_window_samples{model="model"} 1000' in metrics.splitlines()
    # offline, the same numbers from a file of the same samples
    samples = tmp_path / "shifted.jsonl"
    samples.write_text("".join(json.dumps(s) + "\n" for s in _like_training(1000, seed=2, shift=30.0)))
    table = subprocess.run([NBS2I, "drift", str(out), "--input", str(samples)], capture_output=True, text=True,
                           env=build_env())
    assert table.returncode == 0, table.stderr
    assert re.search(r"^age  \(numeric\)  PSI [\d.]+  DRIFTED$", table.stdout, re.M), table.stdout
    assert re.search(r"^colour  \(categorical\)  PSI 0\.0\d\d$", table.stdout, re.M), table.stdout
    document = json.loads(subprocess.run([NBS2I, "drift", str(out), "--input", str(samples), "--json"],
                                         capture_output=True, text=True, env=build_env()).stdout)
    assert {f["name"]: f["psi"] for f in document["features"]} == pytest.approx(psi, rel=1e-6)


@pytest.mark.browser
def test_the_page_draws_the_drift_table(tabular, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, out = tabular
    with Service(out, workers=1) as svc:
        _send(svc.url, _like_training(300, seed=3, shift=30.0))
        browser.get(svc.url + "/")
        WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#drift tbody tr"))
        rows = {r.get_attribute("data-feature"): r for r in browser.find_elements(By.CSS_SELECTOR, "#drift tbody tr")}
        assert set(rows) == {"age", "income", "colour", "prediction"}
        assert "drifted" in rows["age"].get_attribute("class") and "drifted" not in rows["colour"].get_attribute("class")
        assert len(rows["age"].find_elements(By.CSS_SELECTOR, ".bars span.live")) >= 2
        assert "drifted above PSI 0.25: age" in browser.find_element(By.ID, "drift-summary").text


class _Receiver(ThreadingHTTPServer):
    """A CloudEvents sink on loopback, read with the cloudevents SDK, as a Knative service would."""

    def __init__(self):
        from cloudevents.http import from_http

        self.events = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                events.append(from_http(dict(self.headers), body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _wait(predicate, timeout: float = 30, show=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {show()}"
        time.sleep(0.1)


def test_every_request_and_answer_reaches_a_cloudevents_receiver_and_a_dead_one_costs_nothing(tabular):
    _, out = tabular
    receiver = _Receiver()
    sink = f"http://127.0.0.1:{receiver.server_address[1]}/"
    with Service(out, workers=2, NBS2I_LOG_URL=sink) as svc:
        ids = [f"req-{i}" for i in range(20)]
        for rid, sample in zip(ids, _like_training(20, seed=4)):
            assert request(svc.url + "/predict", sample, headers={"X-Request-ID": rid})[1]["X-Request-ID"] == rid
        assert request(svc.url + "/predict/batch", {"instances": _like_training(3, seed=5)},
                       headers={"X-Request-ID": "batch-1"})[0] == 200
        _wait(lambda: len(receiver.events) >= 42, show=lambda: (len(receiver.events), _outcomes(svc)))
        assert _outcomes(svc) == {"sent": 42, "dropped": 0, "failed": 0}
    by_id: dict = {}
    for event in receiver.events:
        by_id.setdefault(event["id"], {})[event["type"].rsplit(".", 1)[1]] = event
    assert set(by_id) == {*ids, "batch-1"} and all(set(e) == {"request", "response"} for e in by_id.values())
    first = by_id["req-0"]
    assert first["request"]["specversion"] == "1.0" and first["request"]["inferenceservicename"] == "model"
    assert first["request"]["type"] == "org.kubeflow.serving.inference.request"
    assert first["request"].data == _like_training(20, seed=4)[0]
    assert set(first["response"].data) == {"prediction"} and first["response"]["endpoint"] == "predict"
    assert len(by_id["batch-1"]["response"].data["predictions"]) == 3
    receiver.shutdown()
    receiver.server_close()  # the sink is gone: predictions go on, the events are counted
    with Service(out, workers=2, NBS2I_LOG_URL=sink, NBS2I_LOG_QUEUE="20") as svc:
        started = time.monotonic()
        _send(svc.url, _like_training(100, seed=6))
        assert time.monotonic() - started < 20
        _wait(lambda: _outcomes(svc)["dropped"] + _outcomes(svc)["failed"] >= 100, show=lambda: _outcomes(svc))
        counted = _outcomes(svc)
        log = svc.output()
    assert counted["sent"] == 0 and counted["dropped"] > 0
    assert log.count("payload log: the queue of 20 events is full") <= 2  # once a minute per worker


def _outcomes(svc: Service) -> dict[str, float]:
    text = request(svc.url + "/metrics")[2]
    return {o: float(re.search(rf'^nbs2i_payload_log_events_total{{outcome="{o}"}} (\S+)$', text, re.M).group(1))
            for o in ("sent", "dropped", "failed")}


def test_the_redis_sink_writes_the_same_events_and_nbs2i_drift_reads_them(tabular, redis_url, tmp_path):
    _, out = tabular
    url, client = redis_url
    with Service(out, workers=1, NBS2I_LOG_URL=url, NBS2I_LOG_MODE="all") as svc:
        for i, sample in enumerate(_like_training(150, seed=7, shift=30.0)):
            request(svc.url + "/predict", sample, headers={"X-Request-ID": f"r-{i}"})
        _wait(lambda: client.xlen("nbs2i:payloads") == 300)
    entries = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in client.xrange("nbs2i:payloads")]
    assert {e["type"] for e in entries} == {"org.kubeflow.serving.inference.request",
                                            "org.kubeflow.serving.inference.response"}
    assert sorted({e["id"] for e in entries}) == sorted(f"r-{i}" for i in range(150))
    assert json.loads(entries[0]["data"]) == _like_training(150, seed=7, shift=30.0)[0]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in entries))
    result = subprocess.run([NBS2I, "drift", str(out), "--input", str(events), "--json"], capture_output=True,
                            text=True, env=build_env())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["window"]["samples"] == 150 and report["drifted"] == ["age"]
    assert report["prediction"]["samples"] == 150  # the logged answers, matched by id
