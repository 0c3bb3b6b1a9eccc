"""The Flask application: create_app() wires a loaded Model to the HTTP API (docs/api.md)."""
from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from flask import Flask, g, render_template, request
from werkzeug.exceptions import HTTPException

from . import encode, http
from .config import Config, load_config
from .contract import META_BUILD_ID, META_EXAMPLE, PRIVATE_META_KEYS
from .errors import RequestError
from .metrics import Metrics
from .model import BatchRejected, Model, SampleRejected
from .openapi import build_spec

log = logging.getLogger("nbs2i")
OPEN_ENDPOINTS = {"live", "ready", "v2_live", "v2_ready", "metrics", "page", "openapi", "static"}
ENDPOINTS = ("predict", "batch", "v1_status", "v1_predict", "metadata", "live", "ready", "v2_live",
             "v2_ready", "metrics", "openapi", "page")


def create_app(model: Model | None = None, config: Config | None = None, metrics: Metrics | None = None) -> Flask:
    """The service for model (None: not ready, every model endpoint answers 503)."""
    config = config or load_config()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    name = model.name if model else "model"
    metrics = metrics or Metrics(ENDPOINTS, name, str(model.metadata.get(META_BUILD_ID, "")) if model else "")
    spec = build_spec(model.metadata) if model else build_spec({})
    public_meta = {k: v for k, v in model.metadata.items() if k not in PRIVATE_META_KEYS} if model else {}

    def ready_model() -> Model:
        if model is None:
            raise RequestError(503, "not_ready", "The model is not loaded yet; retry shortly.")
        return model

    def score(samples: list) -> Any:
        try:
            predictions = ready_model().predict_batch(samples)
        except BatchRejected as exc:
            raise RequestError(422, "rejected", f"{len(exc.rejected)} of {len(samples)} samples were rejected.",
                               exc.rejected) from None
        except Exception as exc:
            metrics.predicted(len(samples), failed=True)
            raise _PredictorFailed(exc) from exc
        metrics.predicted(len(samples))
        return answer({"predictions": predictions})

    def answer(body: dict):
        try:
            return http.json_response(body)
        except TypeError as exc:
            log.error("prediction cannot be encoded as JSON (request %s): %s", g.get("request_id"), exc)
            raise RequestError(500, "unencodable_prediction",
                               f"The predictor returned a value JSON cannot hold ({exc}). Return lists, dicts, "
                               "strings and numbers (numpy and pandas values are converted).") from None

    def instances() -> list:
        body = http.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
            raise RequestError(400, "malformed_batch", 'Send {"instances": [sample, ...]}.')
        return body["instances"]

    @app.before_request
    def _before() -> None:
        g.started = time.perf_counter()
        g.request_id = http.request_id()
        if request.endpoint not in OPEN_ENDPOINTS and request.endpoint is not None:
            http.check_token(config.api_token)

    @app.after_request
    def _after(response):
        response.headers["X-Request-ID"] = g.get("request_id") or http.request_id()
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.observe(request.endpoint or "other", response.status_code, elapsed)
        return response

    @app.post("/predict", endpoint="predict")
    def predict():
        sample = http.json_body()
        current = ready_model()
        try:
            prediction = current.predict(sample)
        except SampleRejected as exc:
            raise RequestError(422, "rejected", exc.message, {"path": exc.path} if exc.path else None) from None
        except Exception as exc:
            metrics.predicted(failed=True)
            raise _PredictorFailed(exc) from exc
        metrics.predicted()
        return answer({"prediction": prediction})

    @app.post("/predict/batch", endpoint="batch")
    def batch():
        return score(instances())

    @app.get("/v1/models/<name>", endpoint="v1_status")
    def v1_status(name: str):
        _known(name)
        return http.json_response({"name": name, "ready": model is not None})

    @app.post("/v1/models/<name>:predict", endpoint="v1_predict")
    def v1_predict(name: str):
        _known(name)
        return score(instances())

    def _known(asked: str) -> None:
        if asked != name:
            raise RequestError(404, "unknown_model", f"No model named {asked!r} here; this service serves {name!r}.")

    @app.get("/metadata", endpoint="metadata")
    def metadata():
        ready_model()
        return http.json_response(public_meta)

    @app.get("/health/live", endpoint="live")
    @app.get("/v2/health/live", endpoint="v2_live")
    def live():
        return http.json_response({"status": "alive"})

    @app.get("/health/ready", endpoint="ready")
    @app.get("/v2/health/ready", endpoint="v2_ready")
    def ready():
        ready_model()
        return http.json_response({"status": "ready", "model": name})

    @app.get("/metrics", endpoint="metrics")
    def prometheus():
        return metrics.render(), 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}

    @app.get("/openapi.json", endpoint="openapi")
    def openapi():
        return http.json_response(spec)

    @app.get("/", endpoint="page")
    def page():
        example = model.metadata.get(META_EXAMPLE) if model else None
        return render_template("index.html", name=name, example=encode.dumps(example).decode(),
                               auth=config.api_token is not None)

    @app.errorhandler(RequestError)
    def _request_error(exc: RequestError):
        return http.error_response(exc.status, exc.code, exc.message, g.get("request_id", ""), exc.details)

    @app.errorhandler(_PredictorFailed)
    def _predictor_failed(exc: "_PredictorFailed"):
        rid = g.get("request_id", "")
        trace = "".join(traceback.format_exception(exc.cause))
        log.error("predictor failed (error id %s):\n%s", rid, trace)
        details = {"traceback": trace} if config.debug else None
        return http.error_response(500, "prediction_failed",
                                   f"The predictor raised {type(exc.cause).__name__}; error id {rid} (see the service log).",
                                   rid, details)

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        rid = g.get("request_id", "")
        log.exception("internal error (error id %s)", rid)
        return http.error_response(500, "internal_error", f"The service failed; error id {rid} (see the service log).", rid)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = {404: "No such endpoint; see /openapi.json for the API.",
                   405: f"{request.method} is not allowed here; see /openapi.json.",
                   413: f"The body is over the limit of {config.max_request_bytes} bytes (NBS2I_MAX_REQUEST_BYTES)."
                   }.get(exc.code or 500, exc.description or code)
        return http.error_response(exc.code or 500, code, message, g.get("request_id", ""))

    return app


class _PredictorFailed(Exception):
    """The notebook's code raised, or its answer could not be encoded; a 500 with an error id."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause
