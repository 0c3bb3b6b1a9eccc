"""Every status code of the API, with the message checked, through both fronts: Flask alone
and the hot path in front of it (as gunicorn serves it)."""
from __future__ import annotations

import json

import pytest

from nbs2i_service.app import create_app
from nbs2i_service.config import load_config
from test.unit import service_fixtures
from test.unit.service_fixtures import client, model, serve

J = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True, params=["flask", "hot path"])
def front(request, monkeypatch):
    monkeypatch.setattr(service_fixtures, "FRONT", request.param)
    return request.param


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
    assert r.status_code == 422 and r.get_json()["error"]["message"] == "rejected by validator (it returned False)"
    r = c.post("/predict", json={"x": 1, "explode": True})
    assert r.status_code == 422
    assert r.get_json()["error"]["message"] == "validator raised ValueError: x must be a number"


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


def test_page_is_prefilled_with_the_example():
    html = client().get("/").get_data(as_text=True)
    assert "<h1 id=\"model-name\">doubler</h1>" in html
    assert '{&#34;x&#34;:2}' in html  # HTML-escaped inside the textarea


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
