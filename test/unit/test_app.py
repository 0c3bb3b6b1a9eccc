"""Every status code of the API, with the message checked, through the front gunicorn serves
(create_app(), as wsgi.py hands it to gunicorn)."""
from __future__ import annotations

import json

import pytest

from nbs2i_service.app import create_app
from nbs2i_service.config import load_config
from nbs2i_service.model import Model
from test.unit.service_fixtures import client, model, serve

J = {"Content-Type": "application/json"}


@pytest.mark.parametrize("path, body, headers, status, code, message", [
    ("/predict", b'{"x": 3}', J, 200, None, None),
    ("/predict", b'{"x": 3', J, 400, "malformed_json", "not valid JSON"),
    ("/predict", b"", J, 400, "malformed_json", "body is empty"),
    ("/predict", b'{"x": NaN}', J, 400, "malformed_json", "not valid JSON"),
    ("/predict", b'{"x": 3}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type", "Content-Type: application/json"),
    ("/predict", b'{"x": 3}', {}, 415, "unsupported_media_type", "got none"),
    ("/predict", b'{"y": 3}', J, 422, "rejected", "input_schema: 'x' is a required property at $"),
    ("/predict", b'{"x": "a"}', J, 422, "rejected", "input_schema: 'a' is not of type 'number' at $.x"),
    ("/predict", b'{"x": 1, "boom": true}', J, 500, "prediction_failed", "The predictor raised RuntimeError; error id"),
    ("/predict", b'{"x": 1, "object": true}', J, 500, "unencodable_prediction", "JSON cannot hold"),
    ("/predict/batch", b'{"instances": [{"x": 1}, {"y": 2}, {"x": 3}, {"x": "b"}]}', J, 422, "rejected", "2 of 4 samples were rejected"),
    ("/predict/batch", b'[{"x": 1}]', J, 400, "malformed_batch", '{"instances": [sample, ...]}'),
    ("/v1/models/other:predict", b'{"instances": [{"x": 1}]}', J, 404, "unknown_model", "serves 'doubler'"),
    ("/nowhere", b"{}", J, 404, "not_found", "No such endpoint"),
])
def test_post_statuses(path, body, headers, status, code, message):
    response = client().post(path, data=body, headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    payload = response.get_json()
    if code is None:
        assert payload == {"prediction": 6}
        return
    assert payload["error"]["code"] == code
    assert message in payload["error"]["message"]
    assert payload["error"]["request_id"] == response.headers["X-Request-ID"]


def test_validator_false_and_raising_are_422_without_schema():
    c = client(with_schema=False)
    r = c.post("/predict", json=[1, 2])
    assert r.status_code == 422 and r.get_json()["error"]["message"] == (
        "rejected by validator (it returned False). A valid sample looks like the notebook's example: {\"x\": 2}.")
    r = c.post("/predict", json={"x": 1, "explode": True})
    assert r.status_code == 422
    assert r.get_json()["error"]["message"] == ("validator raised ValueError: x must be a number. "
                                                "A valid sample looks like the notebook's example: {\"x\": 2}.")


def test_a_rejection_without_example_shows_the_schema_or_nothing():
    meta = {"model_name": "m", "input_schema": {"type": "array"}}
    c = serve(create_app(Model({"predictor": len, "validator": lambda s: len(s) == 2}, meta), load_config({})))
    assert c.post("/predict", json=[1]).get_json()["error"]["message"] == (
        "rejected by validator (it returned False). A valid sample matches the notebook's input_schema: "
        '{"type": "array"}.')
    c = serve(create_app(Model({"predictor": len, "validator": lambda s: len(s) == 2}, {"model_name": "m"}),
                         load_config({})))
    assert c.post("/predict", json=[1]).get_json()["error"]["message"] == "rejected by validator (it returned False)"


def test_batch_rejections_list_indices_and_messages():
    r = client().post("/predict/batch", json={"instances": [{"x": 1}, {"y": 2}]})
    assert r.get_json()["error"]["details"] == [
        {"index": 1, "message": "input_schema: 'x' is a required property at $", "path": "$"}]


@pytest.mark.parametrize("batch", [False, True])
def test_batch_and_kserve_predict(batch):
    c = client(batch=batch)
    body = {"instances": [{"x": 1}, {"x": 2.5}]}
    assert c.post("/predict/batch", json=body).get_json() == {"predictions": [2, 5.0]}
    assert c.post("/v1/models/doubler:predict", json=body).get_json() == {"predictions": [2, 5.0]}
    assert c.get("/v1/models/doubler").get_json() == {"name": "doubler", "ready": True}
    assert c.get("/v1/models/nope").status_code == 404


def test_batch_predictor_is_used_when_defined(monkeypatch):
    m = model(batch=True)
    calls = []
    m.batch_predictor = lambda samples: calls.append(len(samples)) or [0] * len(samples)
    app = create_app(m, load_config({}))
    serve(app).post("/predict/batch", json={"instances": [{"x": 1}, {"x": 2}, {"x": 3}]})
    assert calls == [3]


def test_500_hides_the_traceback_unless_debug(caplog):
    r = client().post("/predict", json={"x": 1, "boom": True})
    assert "secret internal detail" not in r.get_data(as_text=True)
    assert "details" not in r.get_json()["error"]
    rid = r.get_json()["error"]["request_id"]
    assert any(rid in rec.getMessage() and "secret internal detail" in rec.getMessage() for rec in caplog.records)
    r = client({"NBS2I_DEBUG": "1"}).post("/predict", json={"x": 1, "boom": True})
    assert "secret internal detail" in r.get_json()["error"]["details"]["traceback"]


def test_service_keeps_serving_after_a_failure():
    c = client()
    assert c.post("/predict", json={"x": 1, "boom": True}).status_code == 500
    assert c.post("/predict", json={"x": 1}).get_json() == {"prediction": 2}


def test_nan_and_infinity_become_null():
    r = client().post("/predict", json={"x": 1, "nan": True})
    assert r.status_code == 200
    assert json.loads(r.get_data()) == {"prediction": [None, None, 1.5]}


def test_body_over_the_limit_is_413():
    r = client({"NBS2I_MAX_REQUEST_BYTES": "100"}).post("/predict", data=b'{"x": "' + b"a" * 200 + b'"}', headers=J)
    assert r.status_code == 413
    assert "over the limit of 100 bytes (NBS2I_MAX_REQUEST_BYTES)" in r.get_json()["error"]["message"]


def test_405_is_json():
    r = client().get("/predict")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"


def test_request_id_is_echoed_or_made():
    c = client()
    assert c.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = c.get("/health/live", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert len(made) == 32 and made.isalnum()


def test_not_ready_is_503_but_live_is_200():
    c = serve(create_app(None, load_config({})))
    for path in ("/health/ready", "/v2/health/ready"):
        assert c.get(path).status_code == 503
    for path in ("/health/live", "/v2/health/live"):
        assert c.get(path).status_code == 200
    assert c.get("/v2/health/ready").get_json() == {"ready": False}
    r = c.post("/predict", json={"x": 1})
    assert r.status_code == 503 and "not loaded yet" in r.get_json()["error"]["message"]


def test_metadata_and_openapi():
    c = client()
    assert c.get("/metadata").get_json()["model_name"] == "doubler"
    spec = c.get("/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["schemas"]["Sample"]["required"] == ["x"]
    assert spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"] == {"x": 2}
    assert {"/predict/batch", "/v1/models/{name}:predict", "/health/ready", "/metrics"} <= set(spec["paths"])


@pytest.mark.parametrize("path, method", [("/predict", "post"), ("/predict/batch", "post"),
                                          ("/v1/models/doubler:predict", "post"), ("/v1/models/doubler", "get"),
                                          ("/metadata", "get")])
def test_bearer_token_protects_prediction_and_metadata(path, method):
    c = client({"NBS2I_API_TOKEN": "s3cret"})
    body = {"instances": [{"x": 1}]} if "predict" in path and path != "/predict" else {"x": 1}
    call = getattr(c, method)
    kwargs = {"json": body} if method == "post" else {}
    assert call(path, **kwargs).status_code == 401
    r = call(path, headers={"Authorization": "Bearer wrong"}, **kwargs)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer <token>" in r.get_json()["error"]["message"]
    assert call(path, headers={"Authorization": "Bearer s3cret"}, **kwargs).status_code == 200


def test_health_stays_open_with_a_token(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    c = client({"NBS2I_API_TOKEN_FILE": str(secret)})
    for path in ("/health/live", "/health/ready", "/v2/health/ready", "/metrics"):
        assert c.get(path).status_code == 200
    assert c.post("/predict", json={"x": 1}, headers={"Authorization": "Bearer from-a-file"}).status_code == 200


def test_the_page_takes_the_example_and_schema_from_page_json():
    c = client()
    html = c.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}).get_data(as_text=True)
    assert "<h1 id=\"model-name\">doubler</h1>" in html and 'fetch("page.json"' in html
    data = c.get("/page.json").get_json()
    assert data["example"] == {"x": 2} and data["schema"]["required"] == ["x"]
    assert data["metadata"]["model_name"] == "doubler"


def test_both_fronts_count_and_time_predict_requests():
    c = client()
    for body in ({"x": 1}, {"x": 2}, {"y": 1}):
        c.post("/predict", json=body, headers={"X-Request-ID": "r-1"})
    r = c.post("/predict", data=b"{", headers=J)
    assert r.headers["X-Request-ID"] and r.headers["Content-Length"] == str(len(r.get_data()))
    metrics = c.get("/metrics").get_data(as_text=True).splitlines()
    assert 'nbs2i_requests_total{endpoint="predict",status="200"} 2' in metrics
    assert 'nbs2i_requests_total{endpoint="predict",status="422"} 1' in metrics
    assert 'nbs2i_requests_total{endpoint="predict",status="400"} 1' in metrics
    assert 'nbs2i_request_duration_seconds_count{endpoint="predict"} 4' in metrics
    assert "nbs2i_predictions_total 2" in metrics


@pytest.mark.parametrize("accept, page", [("text/html,application/xhtml+xml,*/*;q=0.8", True), ("*/*", False),
                                          ("application/json", False), (None, False)])
def test_root_is_the_page_for_browsers_and_json_for_clients(accept, page):
    r = client().get("/", headers={"Accept": accept} if accept else {})
    if page:
        assert r.mimetype == "text/html" and "doubler" in r.get_data(as_text=True)
    else:
        assert r.get_json() == {"status": "alive"}


def test_v2_health_server_and_model_metadata():
    c = client()
    assert c.get("/v2/health/live").get_json() == {"live": True}
    assert c.get("/v2/health/ready").get_json() == {"ready": True}
    assert c.get("/v2").get_json()["name"] == "nbs2i"
    for path in ("/v2/models/doubler", "/v2/models/doubler/versions/7"):
        meta = c.get(path).get_json()
        assert meta["name"] == "doubler" and meta["platform"] == "nbs2i"
        assert {i["name"]: i["datatype"] for i in meta["inputs"]}["x"] == "FP64"
    for path in ("/v2/models/doubler/ready", "/v2/models/doubler/versions/7/ready"):
        assert c.get(path).get_json() == {"name": "doubler", "ready": True}
    r = c.get("/v2/models/other/ready")
    assert r.status_code == 404 and "serves 'doubler'" in r.get_json()["error"]


def _infer(c, inputs, path="/v2/models/doubler/infer", **extra):
    return c.post(path, json={"inputs": inputs, **extra})


@pytest.mark.parametrize("batch", [False, True])
def test_v2_named_inputs_are_dict_samples(batch):
    c = client(batch=batch)
    r = _infer(c, [{"name": "x", "shape": [3], "datatype": "FP64", "data": [1, 2.5, 3]}], id="req-1")
    body = r.get_json()
    assert r.status_code == 200 and body["id"] == "req-1" and body["model_name"] == "doubler"
    assert body["outputs"] == [{"name": "prediction", "shape": [3], "datatype": "FP64", "data": [2.0, 5.0, 6.0]}]
    r = _infer(c, [{"name": "x", "shape": [1], "datatype": "INT64", "data": [4]}], path="/v2/models/doubler/versions/b1/infer")
    assert r.get_json()["outputs"][0] == {"name": "prediction", "shape": [1], "datatype": "INT64", "data": [8]}


@pytest.mark.parametrize("inputs, message", [
    ([{"name": "x", "shape": [2], "datatype": "FP64", "data": [1]}], "shape [2] holds 2 elements, data has 1"),
    ([{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}], "datatype 'FP128' is not one of"),
    ([{"name": "x", "shape": [1], "datatype": "INT64", "data": [1.5]}], "INT64 elements are whole numbers"),
    ([{"name": "x", "shape": [1], "datatype": "FP64", "data": ["a"]}], "FP64 elements are numbers"),
    ([{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}, {"name": "y", "shape": [2], "datatype": "FP64",
                                                                       "data": [1, 2]}], "same first dimension"),
    ([], "Send {\"inputs\""),
    ([{"name": "y", "shape": [1], "datatype": "FP64", "data": [1]}, {"name": "z", "shape": [1], "datatype": "FP64",
                                                                       "data": [1]}], "'x' is a required property"),
    ([{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}, {"name": "explode", "shape": [2], "datatype": "BOOL",
                                                                       "data": [False, True]}],
     '1 of 2 samples were rejected. A valid sample looks like the notebook\'s example: {"x": 2}. [{"index":1'),
])
def test_v2_errors_are_the_protocols(inputs, message):
    r = _infer(client(), inputs)
    assert r.status_code == 400 and message in r.get_json()["error"], r.get_json()


def test_v2_rows_bytes_and_outputs():
    rows = Model({"predictor": lambda s: [v * 2 for v in s] if isinstance(s, list) else {"echo": s}}, {"model_name": "m"})
    c = serve(create_app(rows, load_config({})))
    r = _infer(c, [{"name": "input", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6]}],
               path="/v2/models/m/infer")
    assert r.get_json()["outputs"][0] == {"name": "prediction", "shape": [2, 3], "datatype": "FP64",
                                          "data": [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]}
    r = _infer(c, [{"name": "input", "shape": [2], "datatype": "BYTES", "data": ['{"a": 1}', "plain"],
                    "parameters": {"content_type": "str"}}], path="/v2/models/m/infer")
    out = r.get_json()["outputs"][0]
    assert out["datatype"] == "BYTES" and [json.loads(d) for d in out["data"]] == [{"echo": '{"a": 1}'}, {"echo": "plain"}]
    r = _infer(c, [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ['{"a": 1}'],
                    "parameters": {"content_type": "application/json"}}], path="/v2/models/m/infer")
    assert json.loads(r.get_json()["outputs"][0]["data"][0]) == {"echo": {"a": 1}}


PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_page_data_has_the_notebooks_figures_and_the_page_links_its_notebook(tmp_path):
    notebook = {"cells": [{"cell_type": "markdown", "source": "# hi"},
                          {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "x"},
                                                            {"output_type": "display_data", "data": {"image/png": PNG}}]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "executed.ipynb").write_text(json.dumps(notebook))
    m = model()
    m.directory = tmp_path
    c = serve(create_app(m, load_config({})))
    data = c.get("/page.json").get_json()
    assert data["figures"] == [{"cell": 2, "mime": "image/png", "data": PNG}] and data["notebook"] is True
    html = c.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="notebook.ipynb"' in html and 'href="openapi.json"' in html
    r = c.get("/notebook.ipynb")
    assert r.status_code == 200 and json.loads(r.get_data())["cells"][1]["outputs"][1]["data"]["image/png"] == PNG
    bare = serve(create_app(model(), load_config({})))
    assert bare.get("/page.json").get_json()["figures"] == [] and bare.get("/notebook.ipynb").status_code == 404


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_the_page_itself_holds_nothing_of_the_model(tmp_path, token):
    (tmp_path / "executed.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"image/png": PNG}}]}]}))
    meta = {"model_name": "m", "example": {"secret_feature": 7}, "input_schema": {"description": "</script>zorblax"}}
    m = Model({"predictor": len}, meta)
    m.directory = tmp_path
    html = serve(create_app(m, load_config({"NBS2I_API_TOKEN": token} if token else {}))).get(
        "/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert not any(secret in html for secret in ("secret_feature", "zorblax", PNG[:20]))
    assert ('<label for="token">API token</label>' in html) is bool(token)


@pytest.mark.parametrize("path", ["/page.json", "/openapi.json", "/notebook.ipynb", "/metadata"])
def test_the_token_covers_what_shows_the_model(tmp_path, path):
    (tmp_path / "executed.ipynb").write_text("{}")
    m = model()
    m.directory = tmp_path
    c = serve(create_app(m, load_config({"NBS2I_API_TOKEN": "s3cret"})))
    r = c.get(path)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert c.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    for open_path in ("/", "/health/live", "/health/ready", "/metrics", "/v2", "/v2/health/ready"):
        assert c.get(open_path).status_code == 200, open_path


def test_wsgi_serves_what_create_app_returns(tmp_path, monkeypatch):
    """wsgi.py hands gunicorn create_app()'s front, the object these tests drive; POST /predict is
    answered there, never by a Flask view (the route exists for routing: 405 for GET)."""
    import importlib
    import sys

    from werkzeug.test import Client

    from nbs2i_service.front import Front
    from test.unit.service_fixtures import write_model_dir

    monkeypatch.setenv("NBS2I_MODEL_DIR", str(write_model_dir(tmp_path / "model")))
    monkeypatch.delitem(sys.modules, "nbs2i_service.wsgi", raising=False)
    served = importlib.import_module("nbs2i_service.wsgi").app  # what gunicorn loads, loaded as it loads it
    assert isinstance(served, Front) and served.svc.model.name == "plus1"
    assert Client(served).post("/predict", json={"x": 1}).get_json() == {"prediction": 2}
    app = create_app(model(), load_config({}))
    assert isinstance(app, Front) and app.flask.view_functions.get("predict") is None
    assert {rule.endpoint for rule in app.flask.url_map.iter_rules() if rule.rule == "/predict"} == {"predict"}


def test_a_refusal_the_worker_answers_is_counted_under_its_endpoint():
    app = create_app(model(), load_config({}))
    app.refused("/predict", "POST", 408, 2.0)
    app.refused("/v2/models/doubler/infer", "POST", 413, 0.01)
    app.refused(None, None, 400, 0.0)  # before a request line could be read
    lines = serve(app).get("/metrics").get_data(as_text=True).splitlines()
    assert {'nbs2i_requests_total{endpoint="predict",status="408"} 1',
            'nbs2i_requests_total{endpoint="v2_infer",status="413"} 1',
            'nbs2i_requests_total{endpoint="other",status="400"} 1'} <= set(lines)


@pytest.mark.parametrize("length, body, status, code", [
    ("8", b'{"x": 3}', 200, None),
    (None, b'{"x": 3}', 200, None),   # chunked: framed by the server
    ("9", b'{"x": 3} ', 413, "request_entity_too_large"),
    ("8", b'{"x":3}', 400, "truncated_body"),
])
def test_the_front_holds_bodies_to_their_limit_and_their_length(length, body, status, code):
    """Under gunicorn's gthread worker (NBS2I_THREADS > 1) nothing read the body before the front."""
    import io

    app = create_app(model(), load_config({"NBS2I_MAX_REQUEST_BYTES": "8"}))
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "CONTENT_TYPE": "application/json",
               "wsgi.input": io.BytesIO(body), "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    seen = []
    answer = b"".join(app(environ, lambda s, h: seen.append(s)))
    assert int(seen[0][:3]) == status
    if code:
        assert json.loads(answer)["error"]["code"] == code
