"""The gRPC front in process: a real grpc server on loopback (threads; the gevent worker's is in
test/integration/test_grpc.py) over a model made in memory, and its message conversions."""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2

from nbs2i_service import grpc_front
from nbs2i_service.config import load_config
from nbs2i_service.errors import RequestError
from nbs2i_service.service import Service
from test.unit.service_fixtures import model

M = grpc_front.MESSAGES
HERE = Path(grpc_front.__file__).parent


def test_the_committed_descriptor_is_the_proto_compiled(tmp_path):
    """`make proto` was run after the last edit of grpc_predict_v2.proto."""
    compiled = tmp_path / "now.binpb"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}", f"--descriptor_set_out={compiled}",
                    "grpc_predict_v2.proto"], check=True)
    now = descriptor_pb2.FileDescriptorSet.FromString(compiled.read_bytes())
    committed = descriptor_pb2.FileDescriptorSet.FromString(grpc_front.DESCRIPTOR.read_bytes())
    assert now == committed, "run `make proto`"


@pytest.fixture
def running():
    svc = Service(model(), load_config({"NBS2I_API_TOKEN": "t0ken"}), None)
    started = grpc_front.serve(svc, "127.0.0.1", 0, gevent=False, workers=4)
    channel = grpc.insecure_channel(f"127.0.0.1:{started.port}")
    yield svc, channel
    started.stop(0).wait(5)


def _call(channel, method: str, message, token: str | None = "t0ken"):
    call = channel.unary_unary(f"/inference.GRPCInferenceService/{method}",
                               request_serializer=message.SerializeToString,
                               response_deserializer=M[type(message).DESCRIPTOR.name.replace("Request", "Response")].FromString)
    return call(message, metadata=[("authorization", f"Bearer {token}")] if token else None, timeout=10)


def _infer(*values, name="doubler"):
    asked = M["ModelInferRequest"](model_name=name, id="i1")
    tensor = asked.inputs.add(name="x", datatype="FP64", shape=[len(values)])
    tensor.contents.fp64_contents.extend(values)
    return asked


def test_calls_answer_as_the_protocol_says(running):
    svc, channel = running
    assert _call(channel, "ServerLive", M["ServerLiveRequest"](), token=None).live
    assert _call(channel, "ServerReady", M["ServerReadyRequest"](), token=None).ready
    assert _call(channel, "ServerMetadata", M["ServerMetadataRequest"](), token=None).name == "nbs2i"
    assert _call(channel, "ModelReady", M["ModelReadyRequest"](name="doubler")).ready
    meta = _call(channel, "ModelMetadata", M["ModelMetadataRequest"](name="doubler"))
    assert meta.versions == ["b1"] and [i.name for i in meta.inputs] == ["x", "boom", "nan", "object", "explode"]
    answer = _call(channel, "ModelInfer", _infer(1.5, 4.0))
    assert (answer.id, answer.model_version) == ("i1", "b1")
    assert list(answer.outputs[0].contents.fp64_contents) == [3.0, 8.0] and list(answer.outputs[0].shape) == [2]
    metrics = svc.metrics.render()
    assert 'nbs2i_requests_total{endpoint="grpc_infer",status="200"} 1' in metrics
    assert 'nbs2i_requests_total{endpoint="grpc_live",status="200"} 1' in metrics


@pytest.mark.parametrize("message, token, code, said, status", [
    (_infer(1.0), "wrong", grpc.StatusCode.UNAUTHENTICATED, "API token", 401),
    (_infer(1.0), None, grpc.StatusCode.UNAUTHENTICATED, "API token", 401),
    (_infer(1.0, name="other"), "t0ken", grpc.StatusCode.NOT_FOUND, "No model named 'other'", 404),
    (M["ModelReadyRequest"](name="other"), "t0ken", grpc.StatusCode.NOT_FOUND, "No model named", 404),
    (M["ModelInferRequest"](model_name="doubler"), "t0ken", grpc.StatusCode.INVALID_ARGUMENT, "Send {\"inputs\"", 400),
])
def test_refusals_have_their_codes_and_are_counted_with_rests_status(running, message, token, code, said, status):
    svc, channel = running
    with pytest.raises(grpc.RpcError) as raised:
        _call(channel, type(message).DESCRIPTOR.name.replace("Request", ""), message, token)
    assert raised.value.code() == code and said in raised.value.details()
    endpoint = "grpc_infer" if "Infer" in type(message).DESCRIPTOR.name else "grpc_model_ready"
    assert f'nbs2i_requests_total{{endpoint="{endpoint}",status="{status}"}} 1' in svc.metrics.render()


def test_a_raising_predictor_is_internal_with_an_error_id(running):
    _, channel = running
    asked = M["ModelInferRequest"](model_name="doubler")
    for name, datatype, field, values in (("x", "FP64", "fp64_contents", [1.0]), ("boom", "BOOL", "bool_contents", [True])):
        getattr(asked.inputs.add(name=name, datatype=datatype, shape=[1]).contents, field).extend(values)
    with pytest.raises(grpc.RpcError) as raised:
        _call(channel, "ModelInfer", asked)
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details().startswith("The predictor raised RuntimeError; error id ")
    assert "secret internal detail" not in raised.value.details()
    # a rejected sample: INVALID_ARGUMENT, the schema's word for it (one input the schema does not name)
    rejected = M["ModelInferRequest"](model_name="doubler")
    rejected.inputs.add(name="y", datatype="FP64", shape=[1]).contents.fp64_contents.append(1.0)
    with pytest.raises(grpc.RpcError) as raised:
        _call(channel, "ModelInfer", rejected)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "is not of type 'object'" in raised.value.details()


def test_raw_contents_are_read_and_answered_raw():
    asked = M["ModelInferRequest"](model_name="m")
    asked.inputs.add(name="x", datatype="INT32", shape=[2])
    asked.inputs.add(name="s", datatype="BYTES", shape=[2])
    asked.raw_input_contents.extend([struct.pack("<2i", 3, -4), struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0)])
    found = grpc_front.as_rest(asked)
    assert [t["data"] for t in found["inputs"]] == [[3, -4], ["ab", ""]]
    answer = grpc_front.answer(asked, "v1", [{"name": "prediction", "datatype": "FP64", "shape": [2], "data": [0.5, 2.0]}],
                               "r")
    assert answer.raw_output_contents == [struct.pack("<2d", 0.5, 2.0)] and not answer.outputs[0].contents.fp64_contents


@pytest.mark.parametrize("change, said", [
    (lambda r: r.raw_input_contents.extend([b"", b""]), "2 raw_input_contents for 1 inputs"),
    (lambda r: r.outputs.add(name="probabilities"), "Output 'probabilities' is not one of this model's outputs"),
    (lambda r: r.inputs[0].contents.bytes_contents.append(b"\xff"), "a BYTES element is not UTF-8 text"),
])
def test_malformed_messages_are_invalid_arguments(change, said):
    asked = M["ModelInferRequest"](model_name="m")
    asked.inputs.add(name="s", datatype="BYTES", shape=[1])
    change(asked)
    with pytest.raises(RequestError) as raised:
        grpc_front.as_rest(asked)
    assert raised.value.status == 400 and said in raised.value.message


def test_typed_answers_and_a_prediction_too_big_for_its_tensor():
    asked = M["ModelInferRequest"](model_name="m")
    tensors = [{"name": "prediction", "datatype": "BYTES", "shape": [1], "parameters": {"content_type": "application/json"},
                "data": ['{"a": 1}']}]
    answer = grpc_front.answer(asked, "v1", tensors, "r")
    assert list(answer.outputs[0].contents.bytes_contents) == [b'{"a": 1}']
    assert answer.outputs[0].parameters["content_type"].string_param == "application/json"
    with pytest.raises(RequestError) as raised:
        grpc_front.answer(asked, "v1", [{"name": "prediction", "datatype": "INT64", "shape": [1], "data": [2 ** 70]}], "r")
    assert raised.value.status == 500 and raised.value.code == "unencodable_prediction"
