"""The Open Inference Protocol over gRPC, with the clients users have: Triton's tritonclient.grpc,
KServe's InferenceGRPCClient, grpcio's health checking (what Kubernetes' gRPC probe and
grpc_health_probe ask) and server reflection (what grpcurl reads), against a real `nbs2i serve`
with its gevent workers."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from test.helpers import REPO, Service, build_notebook, request

pytestmark = pytest.mark.slow

# Named inputs of three datatypes (FP64, INT64, BYTES), a validator, a predictor that can raise,
# and a batch_predictor that costs what predictor costs for a whole batch (2 ms of work), so
# concurrent calls pile up behind it and the worker measures that gathering them pays.
CELLS = ["input_schema = {'type': 'object', 'required': ['area', 'rooms', 'city'],\n"
         "                'properties': {'area': {'type': 'number'}, 'rooms': {'type': 'integer'},\n"
         "                               'city': {'type': 'string'}}}",
         "import time\n"
         "def _busy(seconds):\n    end = time.perf_counter() + seconds\n    while time.perf_counter() < end:\n        pass\n"
         "def _price(sample):\n"
         "    if sample['city'] == 'boom':\n        raise ValueError('no such city')\n"
         "    if sample['city'] == 'slow':\n        time.sleep(2)\n"
         "    return 1000 * sample['area'] + 5000 * sample['rooms'] + len(sample['city'])\n"
         "def predictor(sample):\n    _busy(0.002)\n    return _price(sample)",
         "def batch_predictor(samples):\n    _busy(0.002)\n    return [_price(s) for s in samples]",
         "def validator(sample):\n    return sample['area'] > 0",
         "example = {'area': 70.5, 'rooms': 3, 'city': 'Graz'}"]
TOKEN = "grpc-secret"


def _price(area: float, rooms: int, city: str) -> float:
    return 1000 * area + 5000 * rooms + len(city)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("grpc"), *CELLS, NBS2I_MODEL_NAME="flats")


@pytest.fixture(scope="module")
def svc(out):
    with Service(out, workers=2) as running:
        yield running


def _inputs(triton, areas, rooms, cities):
    area, room, city = (triton.InferInput("area", [len(areas)], "FP64"), triton.InferInput("rooms", [len(rooms)], "INT64"),
                        triton.InferInput("city", [len(cities)], "BYTES"))
    area.set_data_from_numpy(np.array(areas, dtype=np.float64))
    room.set_data_from_numpy(np.array(rooms, dtype=np.int64))
    city.set_data_from_numpy(np.array([c.encode() for c in cities], dtype=object))
    return [area, room, city]


def test_tritonclient_grpc_metadata_and_infer(svc):
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(svc.grpc)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("flats")
    assert client.get_server_metadata().name == "nbs2i"
    meta = client.get_model_metadata("flats", as_json=True)
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"area": "FP64", "rooms": "INT64", "city": "BYTES"}
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": ["-1"]}]
    result = client.infer("flats", _inputs(triton, [70.5, 20.0], [3, 1], ["Graz", "Wien"]), request_id="r-1")
    assert result.as_numpy("prediction").tolist() == [_price(70.5, 3, "Graz"), _price(20.0, 1, "Wien")]
    assert result.get_response().id == "r-1"
    one = client.infer("flats", _inputs(triton, [50.0], [2], ["Linz"]))  # one sample: the batcher's path
    assert one.as_numpy("prediction").tolist() == [_price(50.0, 2, "Linz")]
    # the same model over REST answers the same
    rest = request(svc.url + "/predict", {"area": 50.0, "rooms": 2, "city": "Linz"})[2]
    assert rest == {"prediction": _price(50.0, 2, "Linz")}


def test_typed_contents_are_answered_in_typed_contents(svc):
    """A client that sends InferTensorContents (not raw bytes) gets contents back."""
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(svc.grpc))
    asked = service_pb2.ModelInferRequest(model_name="flats", id="typed")
    for name, datatype, field, values in (("area", "FP64", "fp64_contents", [10.0]), ("rooms", "INT64", "int64_contents", [2]),
                                           ("city", "BYTES", "bytes_contents", [b"Ulm"])):
        tensor = asked.inputs.add(name=name, datatype=datatype, shape=[1])
        getattr(tensor.contents, field).extend(values)
    answer = stub.ModelInfer(asked)
    assert answer.id == "typed" and not answer.raw_output_contents
    assert list(answer.outputs[0].contents.fp64_contents) == [_price(10.0, 2, "Ulm")]


@pytest.mark.parametrize("areas, rooms, cities, code, said", [
    ([-1.0], [1], ["Graz"], grpc.StatusCode.INVALID_ARGUMENT, "rejected by validator"),  # REST: 422
    ([1.0], [1], ["boom"], grpc.StatusCode.INTERNAL, "The predictor raised ValueError; error id"),  # REST: 500
    ([1.0, 2.0], [1, 2], ["Graz", "boom"], grpc.StatusCode.INTERNAL, "on 1 of 2 samples"),
])
def test_refusals_and_failures_have_the_protocols_codes(svc, areas, rooms, cities, code, said):
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(svc.grpc)
    with pytest.raises(InferenceServerException) as raised:
        client.infer("flats", _inputs(triton, areas, rooms, cities))
    assert raised.value.status() == f"StatusCode.{code.name}" and said in raised.value.message(), raised.value


def test_malformed_tensors_and_other_models(svc):
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(svc.grpc))
    wrong_shape = service_pb2.ModelInferRequest(model_name="flats")
    tensor = wrong_shape.inputs.add(name="area", datatype="FP64", shape=[3])
    tensor.contents.fp64_contents.extend([1.0])
    cases = [(wrong_shape, grpc.StatusCode.INVALID_ARGUMENT, "shape [3] holds 3 elements, data has 1"),
             (service_pb2.ModelInferRequest(model_name="other"), grpc.StatusCode.NOT_FOUND, "No model named 'other'")]
    for asked, code, said in cases:
        with pytest.raises(grpc.RpcError) as raised:
            stub.ModelInfer(asked)
        assert raised.value.code() == code and said in raised.value.details(), raised.value.details()
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="other"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_kserve_sdks_grpc_client(svc):
    # KServe's SDK runs in a process of its own (test/kserve_sdk.py: it cannot share one with tritonclient.grpc)
    result = subprocess.run([sys.executable, "-m", "test.kserve_sdk", "grpc", svc.grpc, "flats"], capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"live": True, "ready": True, "model": True,
                                                          "infer": [_price(70.5, 3, "Graz"), _price(20.0, 1, "Wien")]}


def test_health_and_reflection(svc):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
    from google.protobuf.descriptor_pool import DescriptorPool

    channel = grpc.insecure_channel(svc.grpc)
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "inference.GRPCInferenceService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == health_pb2.HealthCheckResponse.SERVING
    database = ProtoReflectionDescriptorDatabase(channel)  # what grpcurl does: list, then describe
    assert {"inference.GRPCInferenceService", "grpc.health.v1.Health"} <= set(database.get_services())
    service = DescriptorPool(database).FindServiceByName("inference.GRPCInferenceService")
    assert {m.name for m in service.methods} == {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata",
                                                 "ModelMetadata", "ModelInfer"}
    assert service.FindMethodByName("ModelInfer").input_type.fields_by_name["raw_input_contents"].number == 7


def test_concurrent_calls_share_batch_predictor_calls(out):
    import tritonclient.grpc as triton

    with Service(out, workers=1) as one:
        client = triton.InferenceServerClient(one.grpc)
        client.infer("flats", _inputs(triton, [1.0], [1], ["a"]))  # connected: what follows is the 32 calls

        def call(i):
            return client.infer("flats", _inputs(triton, [float(i)], [i % 4], ["x" * (i % 3)])).as_numpy("prediction")[0]

        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(call, range(1, 33)))
        metrics = request(one.url + "/metrics")[2]
    assert answers == [_price(float(i), i % 4, "x" * (i % 3)) for i in range(1, 33)]
    batches = float(re.search(r"^nbs2i_batch_size_count (\S+)$", metrics, re.M).group(1))
    samples = float(re.search(r"^nbs2i_batch_size_sum (\S+)$", metrics, re.M).group(1))
    assert 2 <= samples <= 33 and samples / batches > 1.5, metrics  # gathered, as REST's are (a lone call is not)
    assert 'nbs2i_requests_total{endpoint="grpc_infer",status="200"} 33' in metrics


def test_the_token_covers_the_model_and_leaves_the_probes_open(out):
    import tritonclient.grpc as triton
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from tritonclient.utils import InferenceServerException

    with Service(out, workers=1, NBS2I_API_TOKEN=TOKEN) as guarded:
        client = triton.InferenceServerClient(guarded.grpc)
        assert client.is_server_live() and client.is_server_ready()  # open, as REST's probes are
        for ask in (lambda h: client.infer("flats", _inputs(triton, [1.0], [1], ["a"]), headers=h),
                    lambda h: client.get_model_metadata("flats", headers=h),
                    lambda h: client.is_model_ready("flats", headers=h)):
            with pytest.raises(InferenceServerException) as raised:
                ask({"authorization": "Bearer wrong"})
            assert raised.value.status() == "StatusCode.UNAUTHENTICATED"
            assert ask({"authorization": f"Bearer {TOKEN}"})
        health = health_pb2_grpc.HealthStub(grpc.insecure_channel(guarded.grpc))
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        log = guarded.output()
    assert '"method": "GRPC", "path": "/inference.GRPCInferenceService/ModelInfer", "status": "UNAUTHENTICATED"' in log


def test_health_serves_only_once_the_model_is_loaded(tmp_path):
    """A model that takes seconds to load: no gRPC answers SERVING before it has (the port is
    not even open), and it does once loaded."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    slow = build_notebook(tmp_path, "import time\nclass Slow:\n    def __reduce__(self):\n"
                                    "        return (time.sleep, (3,))\nheavy = Slow()",
                          "def predictor(sample):\n    heavy\n    return sample", "example = 1")
    svc = Service(slow, workers=1)
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(svc.grpc))
    seen, started = [], time.monotonic()
    try:
        while time.monotonic() - started < 60:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status
            except grpc.RpcError as exc:
                status = exc.code().name
            ready = request(svc.url + "/health/ready")[0] if status == health_pb2.HealthCheckResponse.SERVING else None
            seen.append((status, ready))
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
            time.sleep(0.2)
    finally:
        svc.stop()
    assert seen[0][0] == "UNAVAILABLE" and seen[-1] == (health_pb2.HealthCheckResponse.SERVING, 200), seen
    assert len(seen) > 5  # it waited for the load (3 s), not for a port


def test_sigterm_lets_a_grpc_call_in_flight_finish(out):
    import tritonclient.grpc as triton

    svc = Service(out, workers=1).wait_ready()
    client = triton.InferenceServerClient(svc.grpc)
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(
        r=client.infer("flats", _inputs(triton, [1.0], [1], ["slow"]), client_timeout=30).as_numpy("prediction")))
    thread.start()
    time.sleep(0.8)  # the call is in the predictor's 2 s sleep
    code = svc.stop(timeout=30)
    thread.join()
    assert code == 0 and answer["r"].tolist() == [_price(1.0, 1, "slow")]


def test_grpc_off_and_a_taken_port(out):
    with Service(out, workers=1, NBS2I_GRPC_PORT="0") as plain:
        assert "gRPC" not in plain.output()
        assert request(plain.url + "/predict", {"area": 1.0, "rooms": 1, "city": "a"})[0] == 200
    with Service(out, workers=1) as first:  # a second service on the first's gRPC port: refused, said why
        second = Service(out, workers=1, NBS2I_GRPC_PORT=str(first.grpc_port))
        assert second.proc.wait(timeout=60) == 1
        second.log.close()
        assert f"127.0.0.1:{first.grpc_port} is in use" in second.log_path.read_text()
