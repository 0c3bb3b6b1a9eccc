"""Real clients of the platforms users run, against a real `nbs2i serve`: Triton's
tritonclient (Open Inference Protocol over REST, JSON and binary tensors) and KServe's own
SDK (InferenceRESTClient, protocols v1 and v2: server live, model ready, infer; server
ready on v2, the only protocol the SDK asks it on)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from test.helpers import REPO, Service, build_notebook

pytestmark = pytest.mark.slow

# A model on rows of four numbers, as a tabular notebook writes it (a hand-made linear scorer).
ROWS = ["weights = [0.5, -1.0, 2.0, 0.25]",
        "def predictor(sample):\n    return sum(w * x for w, x in zip(weights, sample))",
        "def batch_predictor(samples):\n    return [predictor(s) for s in samples]",
        "example = [1.0, 2.0, 3.0, 4.0]"]
# A model on named features with an input_schema.
NAMED = ["input_schema = {'type': 'object', 'required': ['rooms', 'area'],\n"
         "                'properties': {'rooms': {'type': 'integer'}, 'area': {'type': 'number'}}}",
         "def predictor(sample):\n    return {'price': 1000 * sample['area'] + 5000 * sample['rooms'], 'currency': 'EUR'}",
         "example = {'rooms': 3, 'area': 70.5}"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = build_notebook(tmp_path_factory.mktemp("rows"), *ROWS, NBS2I_MODEL_NAME="rows")
    with Service(out, workers=1) as svc:
        yield svc


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    out = build_notebook(tmp_path_factory.mktemp("named"), *NAMED, NBS2I_MODEL_NAME="named")
    with Service(out, workers=1) as svc:
        yield svc


def _expected(batch):
    return [0.5 * a - b + 2 * c + 0.25 * d for a, b, c, d in batch]


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_rows(rows, binary):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{rows.port}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("rows")
    assert client.get_server_metadata()["name"] == "nbs2i"
    meta = client.get_model_metadata("rows")
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]  # as the example's answer
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    batch = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 0.0], [2.0, 1.0, 0.0, 8.0]])
    tensor = triton.InferInput("input", list(batch.shape), "FP64")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    result = client.infer("rows", [tensor], outputs=[triton.InferRequestedOutput("prediction", binary_data=binary)])
    assert result.as_numpy("prediction").tolist() == _expected(batch.tolist())
    # the answer came the way the client asked: binary (24 bytes, three FP64) or JSON data
    assert result.get_output("prediction").get("parameters", {}).get("binary_data_size") == (24 if binary else None)
    assert not client.is_model_ready("other")


def test_tritonclient_named_inputs(named):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{named.port}")
    meta = client.get_model_metadata("named")
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"rooms": "INT64", "area": "FP64"}
    rooms, area = triton.InferInput("rooms", [2], "INT64"), triton.InferInput("area", [2], "FP64")
    rooms.set_data_from_numpy(np.array([3, 1], dtype=np.int64))
    area.set_data_from_numpy(np.array([70.5, 20.0]))
    result = client.infer("named", [rooms, area])  # no outputs named: tritonclient asks for binary ones
    assert result.get_output("prediction")["parameters"]["binary_data_size"] > 0
    answers = [json_load(v) for v in result.as_numpy("prediction").tolist()]
    assert answers == [{"price": 85500.0, "currency": "EUR"}, {"price": 25000.0, "currency": "EUR"}]
    bad = triton.InferInput("rooms", [1], "INT64")
    bad.set_data_from_numpy(np.array([1], dtype=np.int64))
    with pytest.raises(triton.InferenceServerException, match="'area' is a required property"):
        client.infer("named", [bad])


def json_load(value):
    import json

    return json.loads(value.decode() if isinstance(value, bytes) else value)


def test_kserve_sdk_v1_and_v2(rows):
    # KServe's SDK runs in a process of its own (test/kserve_sdk.py: it cannot share one with tritonclient.grpc)
    result = subprocess.run([sys.executable, "-m", "test.kserve_sdk", "rest", rows.url, "rows"], capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["v1"] == {"live": True, "model": True}
    assert found["v2"] == {"live": True, "ready": True, "model": True}
    assert found["v1 infer"]["predictions"] == _expected([[1.0, 2.0, 3.0, 4.0]])
    assert found["v2 infer"] == _expected([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 0.0]])
