"""Every endpoint's answer exactly as docs/api.md shows it (status, body, the headers that
matter, the metrics label it counts under), through the front gunicorn serves. Where test_app.py checks
that a message says the right thing, this checks all of it, so a changed word, code, key,
status or label fails."""
from __future__ import annotations

import json
import logging
import struct

import pytest

from nbs2i_service import contract
from nbs2i_service.app import create_app
from nbs2i_service.config import load_config
from nbs2i_service.model import Model
from test.unit.service_fixtures import METADATA, client, model, serve

RID = {"X-Request-ID": "t-1"}
J = {"Content-Type": "application/json", **RID}


def error(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, "request_id": "t-1", **extra}}


@pytest.mark.parametrize("path, status, body", [
    ("/health/live", 200, {"status": "alive"}),
    ("/health/ready", 200, {"status": "ready", "model": "doubler"}),
    ("/v2/health/live", 200, {"live": True}),
    ("/v2/health/ready", 200, {"ready": True}),
    ("/v2", 200, {"name": "nbs2i", "version": "0.1.0", "extensions": ["binary_tensor_data"]}),
    ("/v1/models/doubler", 200, {"name": "doubler", "ready": True}),
    ("/v2/models/doubler/ready", 200, {"name": "doubler", "ready": True}),
    ("/v2/models/doubler/versions/7/ready", 200, {"name": "doubler", "ready": True}),
    ("/metadata", 200, METADATA),
    ("/notebook.ipynb", 404, error("not_found", "This model has no executed notebook (OUT/model/executed.ipynb).")),
    ("/v1/models/other", 404, error("unknown_model", "No model named 'other' here; this service serves 'doubler'.")),
    ("/nowhere", 404, error("not_found", "No such endpoint; see /openapi.json for the API.")),
    ("/predict", 405, error("method_not_allowed", "GET is not allowed here; see /openapi.json.")),
])
def test_get_answers(path, status, body):
    r = client().get(path, headers=RID)
    assert (r.status_code, r.mimetype, r.get_json()) == (status, "application/json", body)
    assert r.headers["X-Request-ID"] == "t-1"


@pytest.mark.parametrize("path, status, body", [
    ("/health/ready", 503, error("not_ready", "The model is not loaded yet; retry shortly.")),
    ("/v2/health/ready", 503, {"ready": False}),
    ("/v2/models/model/ready", 503, {"name": "model", "ready": False}),
    ("/v1/models/model", 200, {"name": "model", "ready": False}),
    ("/metadata", 503, error("not_ready", "The model is not loaded yet; retry shortly.")),
    ("/v2/models/model", 503, {"error": "The model is not loaded yet; retry shortly."}),
    ("/notebook.ipynb", 404, error("not_found", "This model has no executed notebook (OUT/model/executed.ipynb).")),
])
def test_answers_before_the_model_is_loaded(path, status, body):
    r = serve(create_app(None, load_config({}))).get(path, headers=RID)
    assert (r.status_code, r.get_json()) == (status, body)


def test_metrics_before_the_model_is_loaded_name_no_model():
    text = serve(create_app(None, load_config({}))).get("/metrics").get_data(as_text=True)
    assert 'nbs2i_model_info{model="model",build_id=""} 1' in text.splitlines()


@pytest.mark.parametrize("path, data, env, status, body", [
    ("/predict", b'{"x": 3}', {}, 200, {"prediction": 6}),
    ("/predict", b'{"x": "a"}', {}, 422, error(
        "rejected", "input_schema: 'a' is not of type 'number' at $.x. A valid sample looks like the notebook's "
        'example: {"x": 2}.', details={"path": "$.x"})),
    ("/predict", b"[1]", {}, 422, error(
        "rejected", "input_schema: [1] is not of type 'object' at $. A valid sample looks like the notebook's "
        'example: {"x": 2}.', details={"path": "$"})),
    ("/predict", b"", {}, 400, error("malformed_json", "The request body is empty; send one JSON value.")),
    ("/predict", b'{"x": 1, "boom": true}', {}, 500, error(
        "prediction_failed", "The predictor raised RuntimeError; error id t-1 (see the service log).")),
    ("/predict", b'{"x": 1, "object": true}', {}, 500, error(
        "unencodable_prediction", "The predictor returned a value JSON cannot hold (a value of type object cannot be "
        "encoded as JSON). Return lists, dicts, strings and numbers (numpy and pandas values are converted).")),
    ("/predict", b'{"x": 3}', {"NBS2I_MAX_REQUEST_BYTES": "8"}, 200, {"prediction": 6}),  # exactly the limit
    ("/predict", b'{"x": 3} ', {"NBS2I_MAX_REQUEST_BYTES": "8"}, 413, error(
        "request_entity_too_large", "The body is over the limit of 8 bytes (NBS2I_MAX_REQUEST_BYTES).")),
    ("/predict/batch", b'{"instances": [{"x": 1}, {"x": 2}]}', {"NBS2I_MAX_BATCH_INSTANCES": "2"}, 200,
     {"predictions": [2, 4]}),
    ("/predict/batch", b'{"instances": [{"x": 1}, {"x": 2}, {"x": 3}]}', {"NBS2I_MAX_BATCH_INSTANCES": "2"}, 413, error(
        "too_many_instances", "3 instances are over the cap of 2 per request (NBS2I_MAX_BATCH_INSTANCES): split the "
        "batch, or raise the cap.")),
    ("/predict/batch", b'{"instances": [{"x": 1}, {"y": 2}]}', {}, 422, error(
        "rejected", "1 of 2 samples were rejected. A valid sample looks like the notebook's example: {\"x\": 2}.",
        details=[{"index": 1, "message": "input_schema: 'x' is a required property at $", "path": "$"}])),
    ("/predict/batch", b'{"instances": {"x": 1}}', {}, 400, error("malformed_batch", 'Send {"instances": [sample, ...]}.')),
    ("/predict/batch", b'{"instances": [{"x": 1}, {"x": 2, "boom": true}]}', {}, 500, error(
        "prediction_failed", "The predictor raised RuntimeError on 1 of 2 samples; error id t-1 (see the service log).",
        details={"failed": [1]})),
    ("/v1/models/doubler:predict", b'{"instances": [{"x": 5}]}', {}, 200, {"predictions": [10]}),
])
def test_post_answers(path, data, env, status, body):
    r = client(env).post(path, data=data, headers=J)
    assert (r.status_code, r.mimetype, r.get_json()) == (status, "application/json", body)
    assert r.headers["X-Request-ID"] == "t-1"
    assert r.headers["Content-Length"] == str(len(r.get_data()))


def test_a_batch_without_content_type_is_415_word_for_word():
    r = client().post("/predict/batch", data=b'{"instances": []}', headers=RID)
    assert (r.status_code, r.get_json()) == (415, error(
        "unsupported_media_type", "Send the sample as JSON with 'Content-Type: application/json' (got none)."))


def test_a_validator_rejection_has_no_path():
    r = client(with_schema=False).post("/predict", json=[1], headers=RID)
    assert r.get_json() == error("rejected", "rejected by validator (it returned False). A valid sample looks like "
                                 'the notebook\'s example: {"x": 2}.')


def test_401_headers_exactly():
    r = client({"NBS2I_API_TOKEN": "s3cret"}).post("/predict", json={"x": 1}, headers=RID)
    assert r.status_code == 401
    assert r.get_json() == error("unauthorized", "Send 'Authorization: Bearer <token>' with the service's API token.")
    assert (r.headers["WWW-Authenticate"], r.headers["Content-Type"]) == ("Bearer", "application/json")


def test_failures_are_logged_with_their_request_id(caplog):
    c = client()
    with caplog.at_level(logging.ERROR, logger="nbs2i"):
        c.post("/predict", json={"x": 1, "boom": True}, headers=RID)
        c.post("/predict", json={"x": 1, "object": True}, headers=RID)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("predictor failed (error id t-1):\nTraceback (most recent call last):")
    assert messages[0].rstrip().endswith("RuntimeError: secret internal detail")
    assert messages[1] == ("prediction cannot be encoded as JSON (request t-1): "
                           "a value of type object cannot be encoded as JSON")


def test_debug_puts_the_traceback_in_details():
    body = client({"NBS2I_DEBUG": "1"}).post("/predict", json={"x": 1, "boom": True}, headers=RID).get_json()
    assert body["error"]["details"]["traceback"].rstrip().endswith("RuntimeError: secret internal detail")


def test_each_endpoint_counts_under_its_own_label_and_failures_count_the_failing_samples(tmp_path):
    m = model()
    (tmp_path / contract.EXECUTED_NOTEBOOK_FILE).write_text("{}")
    m.directory = tmp_path
    c = serve(create_app(m, load_config({})))
    calls = [("get", "/health/live"), ("get", "/health/ready"), ("get", "/v2/health/live"), ("get", "/v2/health/ready"),
             ("get", "/v2"), ("get", "/v2/models/doubler"), ("get", "/v2/models/doubler/ready"),
             ("get", "/v1/models/doubler"), ("get", "/metadata"), ("get", "/notebook.ipynb"), ("get", "/openapi.json"),
             ("get", "/"), ("get", "/page.json"), ("get", "/metrics")]
    for method, path in calls:
        assert getattr(c, method)(path).status_code == 200, path
    c.post("/predict", json={"x": 1})
    c.post("/predict/batch", json={"instances": [{"x": 1}, {"x": 2, "boom": True}, {"x": 3}]})
    c.post("/v1/models/doubler:predict", json={"instances": [{"x": 1}]})
    c.post("/v2/models/doubler/infer", json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]})
    lines = c.get("/metrics").get_data(as_text=True).splitlines()
    counted = {line.split('"')[1]: line.rsplit(" ", 1)[1] for line in lines if line.startswith("nbs2i_requests_total{")}
    assert counted == {"live": "1", "ready": "1", "v2_live": "1", "v2_ready": "1", "v2_server": "1", "v2_model": "1",
                       "v2_model_ready": "1", "v1_status": "1", "metadata": "1", "notebook": "1", "openapi": "1",
                       "page": "1", "page_data": "1", "metrics": "1", "predict": "1", "batch": "1", "v1_predict": "1",
                       "v2_infer": "1"}
    assert 'nbs2i_requests_total{endpoint="batch",status="500"} 1' in lines
    # the batch of three: two scored, one failed (docs/api.md: one rule for failing samples)
    assert {"nbs2i_predictions_total 5", "nbs2i_prediction_errors_total 1",
            'nbs2i_model_info{model="doubler",build_id="b1"} 1'} <= set(lines)


def test_metrics_and_notebook_content_types(tmp_path):
    m = model()
    (tmp_path / contract.EXECUTED_NOTEBOOK_FILE).write_text('{"cells": []}')
    m.directory = tmp_path
    c = serve(create_app(m, load_config({})))
    assert c.get("/metrics").headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    r = c.get("/notebook.ipynb")
    assert (r.status_code, r.get_data(), r.headers["Content-Type"], r.headers["Content-Disposition"]) == (
        200, b'{"cells": []}', "application/x-ipynb+json", 'attachment; filename="doubler.executed.ipynb"')


def test_the_page_says_when_a_token_is_needed():
    page = lambda env: client(env).get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    token_field = '<label for="token">API token</label>'
    assert (token_field in page({"NBS2I_API_TOKEN": "t"}), token_field in page({})) == (True, False)


def test_openapi_follows_infer_schema():
    no_schema = lambda env: client(env, with_schema=False).get("/openapi.json").get_json()["components"]["schemas"]
    assert no_schema({})["Sample"] == {
        "type": "object", "required": ["x"], "properties": {"x": {"type": "number"}},
        "description": "The shape of the notebook's example (derived; NBS2I_INFER_SCHEMA=0 turns it off)."}
    assert no_schema({"NBS2I_INFER_SCHEMA": "0"})["Sample"] == {"description": "One sample: the JSON the predictor takes."}


def _v2(**extra):
    return {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}], **extra}


@pytest.mark.parametrize("path, version", [("/v2/models/doubler/infer", "b1"), ("/v2/models/doubler/versions/7/infer", "7")])
def test_v2_infer_answer_exactly(path, version):
    r = client().post(path, json=_v2(id="q-9"), headers=RID)
    assert (r.status_code, r.get_json()) == (200, {
        "model_name": "doubler", "model_version": version, "id": "q-9",
        "outputs": [{"name": "prediction", "shape": [2], "datatype": "FP64", "data": [2.0, 4.0]}]})
    assert "id" not in client().post(path, json=_v2(id=5)).get_json()  # only a string id is echoed


def test_v2_one_row_is_scored_alone_and_counted():
    c = client()
    r = c.post("/v2/models/doubler/infer", json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [4]}]})
    assert r.get_json()["outputs"][0]["data"] == [8.0]
    r = c.post("/v2/models/doubler/infer", json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]},
                                                            {"name": "boom", "shape": [1], "datatype": "BOOL", "data": [True]}]})
    assert (r.status_code, r.get_json()) == (500, {"error": f"The predictor raised RuntimeError; error id "
                                                            f"{r.headers['X-Request-ID']} (see the service log)."})
    assert "nbs2i_prediction_errors_total 1" in c.get("/metrics").get_data(as_text=True).splitlines()


def test_v2_binary_extension_and_its_errors():
    header = json.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "FP64",
                                     "parameters": {"binary_data_size": 16}}]}).encode()
    body = header + struct.pack("<2d", 1.5, 2.0)
    c = client()
    r = c.post("/v2/models/doubler/infer", data=body, headers={"Inference-Header-Content-Length": str(len(header))})
    assert r.get_json()["outputs"][0]["data"] == [3.0, 4.0]
    r = c.post("/v2/models/doubler/infer", data=body, headers={"Inference-Header-Content-Length": str(len(header) - 1)})
    assert r.status_code == 400 and r.get_json()["error"].startswith(
        f"Inference-Header-Content-Length '{len(header) - 1}': the JSON header cannot be read (")
    r = c.post("/v2/models/doubler/infer", data=b'{"inputs": 5}')
    assert (r.status_code, r.get_json()) == (400, {"error": 'Send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}.'})


def test_v2_model_metadata_versions_agree():
    c = client()
    assert c.get("/v2/models/doubler").get_json() == c.get("/v2/models/doubler/versions/3").get_json()


def test_the_page_before_the_model_is_loaded_and_without_a_notebook():
    html = serve(create_app(None, load_config({}))).get("/", headers={"Accept": "text/html"})
    assert html.status_code == 200 and '<h1 id="model-name">model</h1>' in html.get_data(as_text=True)
    assert serve(create_app(None, load_config({}))).get("/page.json").get_json() == {
        "example": None, "schema": None, "figures": [], "notebook": False, "metadata": {}}
    assert client().get("/page.json").get_json()["notebook"] is False


def test_a_client_that_accepts_json_and_html_alike_gets_json():
    assert client().get("/", headers={"Accept": "text/html, application/json"}).get_json() == {"status": "alive"}


def test_unencodable_batch_and_v2_answers_log_their_request_id(caplog):
    objects = {"predictor": lambda s: object(), "batch_predictor": lambda ss: [object() for _ in ss]}
    c = serve(create_app(Model(objects, {"model_name": "m"}), load_config({})))
    with caplog.at_level(logging.ERROR, logger="nbs2i"):
        c.post("/predict/batch", json={"instances": [1, 2]}, headers=RID)
        c.post("/v2/models/m/infer", headers={"X-Request-ID": "t-2"},
               json={"inputs": [{"name": "input", "shape": [2], "datatype": "FP64", "data": [1, 2]}]})
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "prediction cannot be encoded as JSON (request t-1)", "prediction cannot be encoded as JSON (request t-2)"]
    r = c.post("/v2/models/m/infer", json={"inputs": [{"name": "input", "shape": [1], "datatype": "FP64", "data": [1]}]})
    assert (r.status_code, r.get_json()["error"]) == (500, "The predictor returned a value JSON cannot hold (a value of "
                                                           "type object cannot be encoded as JSON). Return lists, dicts, "
                                                           "strings and numbers (numpy and pandas values are converted).")


def test_a_model_without_a_build_id():
    c = serve(create_app(Model({"predictor": lambda s: s}, {"model_name": "m"}), load_config({})))
    r = c.post("/v2/models/m/infer", json={"inputs": [{"name": "input", "shape": [1], "datatype": "FP64", "data": [1]}]})
    assert r.get_json()["model_version"] == ""
    assert 'nbs2i_model_info{model="m",build_id=""} 1' in c.get("/metrics").get_data(as_text=True).splitlines()


def test_one_v2_row_is_rejected_as_a_sample_not_as_a_batch():
    r = client().post("/v2/models/doubler/infer", json={"inputs": [{"name": "y", "shape": [1], "datatype": "FP64", "data": [1]},
                                                                  {"name": "z", "shape": [1], "datatype": "FP64", "data": [1]}]})
    assert (r.status_code, r.get_json()) == (400, {"error": "input_schema: 'x' is a required property at $. A valid sample "
                                                            "looks like the notebook's example: {\"x\": 2}."})


def test_the_versions_routes_count_under_their_endpoints():
    c = client()
    c.get("/v2/models/doubler/versions/1")
    c.get("/v2/models/doubler/versions/1/ready")
    c.post("/v2/models/doubler/versions/1/infer", json=_v2())
    lines = set(c.get("/metrics").get_data(as_text=True).splitlines())
    assert {f'nbs2i_requests_total{{endpoint="{e}",status="200"}} 1' for e in ("v2_model", "v2_model_ready", "v2_infer")} <= lines


def test_the_metrics_given_to_create_app_are_the_ones_counted():
    from nbs2i_service.metrics import Metrics

    metrics = Metrics(["live"], "shared", "b")
    serve(create_app(model(), load_config({}), metrics)).get("/health/live")
    assert 'nbs2i_requests_total{endpoint="live",status="200"} 1' in metrics.render().splitlines()


def test_the_debug_traceback_is_pythons_own_text():
    body = client({"NBS2I_DEBUG": "1"}).post("/predict", json={"x": 1, "boom": True}, headers=RID).get_json()
    lines = body["error"]["details"]["traceback"].splitlines()
    assert lines[0] == "Traceback (most recent call last):" and lines[1].startswith('  File "')


@pytest.mark.parametrize("meta, infer, datatype", [
    ({"example": [5, 2]}, True, "FP64"),  # the derived schema checks numbers: floats are welcome
    ({"example": [5, 2]}, False, "INT64"),  # nothing checks: the example's own type
    ({"example": [5, 2], "input_schema": {"type": "array", "items": {"type": "integer"}}}, True, "INT64"),
    ({"example": [0.5, 2]}, False, "FP64"),
])
def test_v2_metadata_announces_the_type_samples_are_checked_against(meta, infer, datatype):
    m = Model({"predictor": sum}, {"model_name": "m", **meta}, infer_schema=infer)
    c = serve(create_app(m, load_config({})))
    assert c.get("/v2/models/m").get_json()["inputs"] == [{"name": "input", "datatype": datatype, "shape": [-1, 2]}]
    r = c.post("/v2/models/m/infer", json={"inputs": [{"name": "input", "shape": [1, 2], "datatype": datatype,
                                                       "data": [1.5, 2] if datatype == "FP64" else [1, 2]}]})
    assert r.status_code == 200, r.get_json()


def test_v2_metadata_of_a_single_number():
    m = Model({"predictor": abs}, {"model_name": "m", "example": 3}, infer_schema=True)
    assert serve(create_app(m, load_config({}))).get("/v2/models/m").get_json()["inputs"] == [
        {"name": "input", "datatype": "FP64", "shape": [-1]}]


def _binary_body(header: dict, raw: bytes = b"") -> tuple[bytes, dict]:
    text = json.dumps(header).encode()
    return text + raw, {"Inference-Header-Content-Length": str(len(text))}


@pytest.mark.parametrize("header, raw, length, message", [
    ({"inputs": 5}, b"", None, 'Send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}.'),
    (True, b"", None, 'Send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}.'),  # not an object at all
    ([1, 2], b"", None, 'Send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}.'),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}, b"", "-3",
     "Inference-Header-Content-Length '-3' is not a length within the body's "),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}, b"", "99999",
     "Inference-Header-Content-Length '99999' is not a length within the body's "),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]},
     struct.pack("<I", 2) + b"\xff\xfe", None, "Input 'x': a BYTES element is not UTF-8 text (invalid start byte at "
                                              "byte 0); this model takes text."),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": 8}}]},
     struct.pack("<d", 1.0) + b"extra", None, "The body has 5 bytes past its inputs' binary_data_size."),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}], "outputs": [{"name": "score"}]}, b"",
     None, "Output 'score' is not one of this model's outputs: 'prediction'."),
])
def test_v2_protocol_errors_are_400_in_the_protocols_words(header, raw, length, message):
    body, headers = _binary_body(header, raw)
    if length is not None:
        headers["Inference-Header-Content-Length"] = length
    r = client().post("/v2/models/doubler/infer", data=body, headers=headers)
    assert r.status_code == 400 and r.get_json()["error"].startswith(message), r.get_json()
    if length is None and not raw:  # the same body as plain JSON, no binary header
        r = client().post("/v2/models/doubler/infer", json=header)
        assert r.status_code == 400 and r.get_json()["error"].startswith(message), r.get_json()


@pytest.mark.parametrize("request_params, output, binary", [
    ({"binary_data_output": True}, None, True),       # tritonclient without outputs asks this
    ({}, {"name": "prediction", "parameters": {"binary_data": True}}, True),   # InferRequestedOutput's default
    ({"binary_data_output": True}, {"name": "prediction", "parameters": {"binary_data": False}}, False),
    ({}, None, False),
])
def test_v2_outputs_are_binary_when_asked(request_params, output, binary):
    header = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2.5]}], "parameters": request_params}
    if output:
        header["outputs"] = [output]
    r = client().post("/v2/models/doubler/infer", json=header)
    assert r.status_code == 200
    if not binary:
        assert r.get_json()["outputs"] == [{"name": "prediction", "shape": [2], "datatype": "FP64", "data": [2.0, 5.0]}]
        return
    length = int(r.headers["Inference-Header-Content-Length"])
    answer = json.loads(r.get_data()[:length])
    assert answer["outputs"] == [{"name": "prediction", "shape": [2], "datatype": "FP64",
                                  "parameters": {"binary_data_size": 16}}]
    assert struct.unpack("<2d", r.get_data()[length:]) == (2.0, 5.0)


def test_v2_binary_bytes_outputs_carry_each_answer_as_json():
    m = Model({"predictor": lambda s: {"echo": s}}, {"model_name": "m"})
    r = serve(create_app(m, load_config({}))).post("/v2/models/m/infer", json={
        "inputs": [{"name": "input", "shape": [2], "datatype": "FP64", "data": [1, 2]}],
        "parameters": {"binary_data_output": True}})
    length = int(r.headers["Inference-Header-Content-Length"])
    raw, elements = r.get_data()[length:], []
    while raw:
        (n,) = struct.unpack_from("<I", raw)
        elements.append(json.loads(raw[4:4 + n]))
        raw = raw[4 + n:]
    assert elements == [{"echo": 1.0}, {"echo": 2.0}]
    assert json.loads(r.get_data()[:length])["outputs"][0]["parameters"] == {
        "content_type": "application/json", "binary_data_size": len(r.get_data()) - length}


@pytest.mark.parametrize("answer, output", [
    (3.5, {"name": "prediction", "datatype": "FP64", "shape": [-1]}),
    (3, {"name": "prediction", "datatype": "INT64", "shape": [-1]}),
    ([0.5, 0.25], {"name": "prediction", "datatype": "FP64", "shape": [-1, 2]}),
    ("cat", {"name": "prediction", "datatype": "BYTES", "shape": [-1], "parameters": {"content_type": "application/json"}}),
])
def test_v2_metadata_announces_the_output_the_example_got(answer, output):
    m = Model({"predictor": len}, {"model_name": "m", "example": [1], "example_prediction": answer})
    assert serve(create_app(m, load_config({}))).get("/v2/models/m").get_json()["outputs"] == [output]
