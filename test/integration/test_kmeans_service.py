"""examples/kmeans built for real and served by a real gunicorn on a loopback port."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from test.helpers import NOTEBOOK_TOOLING, Service, request, served_distributions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(kmeans_out):
    svc = Service(kmeans_out, workers=2).wait_ready()
    yield svc
    assert svc.stop() == 0


def test_build_output_layout_and_metadata(kmeans_out):
    meta = json.loads((kmeans_out / "model" / "metadata.json").read_text())
    assert meta["model_name"] == "kmeans" and meta["notebook"] == "kmeans.ipynb"
    assert meta["requirements"] == ["numpy==1.26.4", "scikit-learn==1.5.2", "matplotlib==3.9.2"]
    assert "scikit-learn==1.5.2" in meta["packages"] and "gunicorn" in " ".join(meta["packages"])
    assert meta["has_validator"] is True and meta["example"] == [0.5, 0.5]
    assert len(meta["artifact_sha256"]) == 64 and meta["built_at"].endswith("Z")
    assert meta["python_version"].startswith("3.")
    names = {p.split("==")[0].lower() for p in meta["packages"]}
    assert not names & (NOTEBOOK_TOOLING | {"nbs2i"})
    assert served_distributions(kmeans_out) == names  # metadata tells the truth about OUT/venv
    ran_with = {p.split("==")[0].lower(): p for p in meta["build_packages"]}
    assert "ipython" in ran_with and "scikit-learn==1.5.2" in meta["build_packages"]
    served = {p.split("==")[0].lower(): p for p in meta["packages"]}
    for name in ("numpy", "scikit-learn", "scipy", "joblib", "threadpoolctl"):  # what the model uses, at the
        assert served[name] == ran_with[name]                                    # versions the notebook ran with
    assert "flask" not in ran_with and "gunicorn" not in ran_with  # the service's own: served, never in the build
    assert (kmeans_out / "service" / "gunicorn.conf.py").is_file()
    assert json.loads((kmeans_out / "model" / "openapi.json").read_text())["openapi"] == "3.1.0"


def test_executed_notebook_keeps_outputs(kmeans_out):
    nb = nbformat.read(str(kmeans_out / "model" / "executed.ipynb"), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any(o.output_type == "stream" and "inertia:" in o.text for o in outputs)
    assert any(o.output_type == "display_data" and "image/png" in o.data for o in outputs)
    results = [o for o in outputs if o.output_type == "execute_result"]  # Out[n], as Jupyter shows it
    assert results and all(o.execution_count and "text/plain" in o.data for o in results)
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == list(range(1, 7))


def test_predict_good_rejected_malformed(service):
    status, headers, body = request(service.url + "/predict", [0.1, 0.9])
    assert status == 200 and len(body["prediction"]) == 2
    assert all(0 <= v <= 1 for v in body["prediction"])
    assert headers["X-Request-ID"]
    status, _, body = request(service.url + "/predict", [0.1])
    assert status == 422 and body["error"]["message"] == (
        "the shape of the notebook's example: [0.1] is too short at $. "
        "A valid sample looks like the notebook's example: [0.5, 0.5].")
    status, _, body = request(service.url + "/predict", {"x": 1})
    assert status == 422 and "{'x': 1} is not of type 'array' at $" in body["error"]["message"]
    status, _, body = request(service.url + "/predict", raw=b"[0.1,")
    assert status == 400 and body["error"]["code"] == "malformed_json"
    status, _, body = request(service.url + "/metadata")
    assert status == 200 and body["model_name"] == "kmeans"


def test_nearest_centre_is_stable(service):
    _, _, a = request(service.url + "/predict", [0.9, 0.1])
    _, _, b = request(service.url + "/predict", [0.9001, 0.1001])
    assert a == b


def _count(metrics_text: str, endpoint: str, status: int) -> float:
    prefix = f'nbs2i_requests_total{{endpoint="{endpoint}",status="{status}"}} '
    return next((float(line[len(prefix):]) for line in metrics_text.splitlines() if line.startswith(prefix)), 0.0)


def test_metrics_agree_across_workers(service):
    before = _count(request(service.url + "/metrics")[2], "predict", 200)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: request(service.url + "/predict", [0.3, 0.3])[0], range(200)))
    assert statuses == [200] * 200
    seen = {_count(request(service.url + "/metrics")[2], "predict", 200) for _ in range(6)}
    assert seen == {before + 200}  # every worker reports the same total


def test_killed_worker_is_replaced(service):
    workers = subprocess.run(["pgrep", "-P", str(service.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2
    os.kill(int(workers[0]), signal.SIGKILL)
    time.sleep(0.5)
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: request(service.url + "/predict", [0.6, 0.6])[0], range(50)))
    assert statuses == [200] * 50
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = subprocess.run(["pgrep", "-P", str(service.proc.pid)], capture_output=True, text=True).stdout.split()
        if len(now) == 2 and workers[0] not in now:
            break
        time.sleep(0.2)
    assert len(now) == 2 and workers[0] not in now


def test_readme_first_screen_matches_the_demo(service):
    """The README's demo curl and its answer are what the kmeans service really answers."""
    import re

    from test.helpers import REPO

    readme = (REPO / "README.md").read_text()
    match = re.search(r"\$ curl -s .*-d '([^']+)' localhost:8080/predict\n\s+(\{.*\})\n", readme)
    assert match, "the README shows the demo's curl and its answer"
    sample, shown = json.loads(match.group(1)), json.loads(match.group(2))
    answer = request(service.url + "/predict", sample)[2]
    assert answer["prediction"] == pytest.approx(shown["prediction"])
    assert "example = [0.5, 0.5]" in readme and sample == [0.5, 0.5]
    first_screen = readme.split("## The notebook contract")[0]
    assert "make test-unit" in first_screen and "apt" in first_screen and "minutes" in first_screen
