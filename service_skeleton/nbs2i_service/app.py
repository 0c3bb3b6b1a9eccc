"""The Flask application: create_app() wires a loaded Model to the HTTP API (docs/api.md)."""
from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from flask import Flask, Response, g, render_template, request
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


class _PredictorFailed(Exception):
    """The notebook's code raised; a 500 with an error id, the traceback only in the log."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


class _Service:
    """What the routes share: the model (None until loaded), the config and the metrics."""

    def __init__(self, model: Model | None, config: Config, metrics: Metrics | None):
        self.model, self.config = model, config
        self.name = model.name if model else "model"
        self.metrics = metrics or Metrics(ENDPOINTS, self.name, str(model.metadata.get(META_BUILD_ID, "")) if model else "")
        self.spec = build_spec(model.metadata if model else {})
        self.public_metadata = {k: v for k, v in (model.metadata if model else {}).items() if k not in PRIVATE_META_KEYS}

    def ready_model(self) -> Model:
        if self.model is None:
            raise RequestError(503, "not_ready", "The model is not loaded yet; retry shortly.")
        return self.model

    def predict(self, sample: Any) -> Response:
        model = self.ready_model()
        try:
            prediction = model.predict(sample)
        except SampleRejected as exc:
            raise RequestError(422, "rejected", exc.message, {"path": exc.path} if exc.path else None) from None
        except Exception as exc:
            self.metrics.predicted(failed=True)
            raise _PredictorFailed(exc) from exc
        self.metrics.predicted()
        return self.answer({"prediction": prediction})

    def predict_batch(self, samples: list) -> Response:
        model = self.ready_model()
        try:
            predictions = model.predict_batch(samples)
        except BatchRejected as exc:
            raise RequestError(422, "rejected", f"{len(exc.rejected)} of {len(samples)} samples were rejected.",
                               exc.rejected) from None
        except Exception as exc:
            self.metrics.predicted(len(samples), failed=True)
            raise _PredictorFailed(exc) from exc
        self.metrics.predicted(len(samples))
        return self.answer({"predictions": predictions})

    def answer(self, body: dict) -> Response:
        try:
            return http.json_response(body)
        except TypeError as exc:
            log.error("prediction cannot be encoded as JSON (request %s): %s", g.get("request_id"), exc)
            raise RequestError(500, "unencodable_prediction",
                               f"The predictor returned a value JSON cannot hold ({exc}). Return lists, dicts, "
                               "strings and numbers (numpy and pandas values are converted).") from None

    def known(self, asked: str) -> None:
        if asked != self.name:
            raise RequestError(404, "unknown_model", f"No model named {asked!r} here; this service serves {self.name!r}.")


def _instances() -> list:
    body = http.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise RequestError(400, "malformed_batch", 'Send {"instances": [sample, ...]}.')
    return body["instances"]


def _hooks(app: Flask, svc: _Service) -> None:
    @app.before_request
    def _before() -> None:
        g.started = time.perf_counter()
        g.request_id = http.request_id()
        if request.endpoint not in OPEN_ENDPOINTS and request.endpoint is not None:
            http.check_token(svc.config.api_token)

    @app.after_request
    def _after(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or http.request_id()
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        svc.metrics.observe(request.endpoint or "other", response.status_code, elapsed)
        return response


def _prediction_routes(app: Flask, svc: _Service) -> None:
    app.add_url_rule("/predict", "predict", lambda: svc.predict(http.json_body()), methods=["POST"])
    app.add_url_rule("/predict/batch", "batch", lambda: svc.predict_batch(_instances()), methods=["POST"])

    @app.get("/v1/models/<name>", endpoint="v1_status")
    def v1_status(name: str) -> Response:
        svc.known(name)
        return http.json_response({"name": name, "ready": svc.model is not None})

    @app.post("/v1/models/<name>:predict", endpoint="v1_predict")
    def v1_predict(name: str) -> Response:
        svc.known(name)
        return svc.predict_batch(_instances())


def _info_routes(app: Flask, svc: _Service) -> None:
    def live() -> Response:
        return http.json_response({"status": "alive"})

    def ready() -> Response:
        svc.ready_model()
        return http.json_response({"status": "ready", "model": svc.name})

    def metadata() -> Response:
        svc.ready_model()
        return http.json_response(svc.public_metadata)

    def page() -> str:
        example = svc.model.metadata.get(META_EXAMPLE) if svc.model else None
        return render_template("index.html", name=svc.name, example=encode.dumps(example).decode(),
                               auth=svc.config.api_token is not None)

    prometheus = lambda: (svc.metrics.render(), 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
    for path, endpoint, view in (("/health/live", "live", live), ("/v2/health/live", "v2_live", live),
                                 ("/health/ready", "ready", ready), ("/v2/health/ready", "v2_ready", ready),
                                 ("/metadata", "metadata", metadata), ("/metrics", "metrics", prometheus),
                                 ("/openapi.json", "openapi", lambda: http.json_response(svc.spec)),
                                 ("/", "page", page)):
        app.add_url_rule(path, endpoint, view, methods=["GET"])


def _error_handlers(app: Flask, svc: _Service) -> None:
    def rid() -> str:
        return g.get("request_id", "")

    @app.errorhandler(RequestError)
    def _request_error(exc: RequestError) -> Response:
        return http.error_response(exc.status, exc.code, exc.message, rid(), exc.details)

    @app.errorhandler(_PredictorFailed)
    def _predictor_failed(exc: _PredictorFailed) -> Response:
        trace = "".join(traceback.format_exception(exc.cause))
        log.error("predictor failed (error id %s):\n%s", rid(), trace)
        return http.error_response(500, "prediction_failed",
                                   f"The predictor raised {type(exc.cause).__name__}; error id {rid()} (see the service log).",
                                   rid(), {"traceback": trace} if svc.config.debug else None)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        log.exception("internal error (error id %s)", rid())
        return http.error_response(500, "internal_error", f"The service failed; error id {rid()} (see the service log).", rid())

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        message = {404: "No such endpoint; see /openapi.json for the API.",
                   405: f"{request.method} is not allowed here; see /openapi.json.",
                   413: f"The body is over the limit of {svc.config.max_request_bytes} bytes (NBS2I_MAX_REQUEST_BYTES)."
                   }.get(exc.code or 500, exc.description or code)
        return http.error_response(exc.code or 500, code, message, rid())


def create_app(model: Model | None = None, config: Config | None = None, metrics: Metrics | None = None) -> Flask:
    """The service for model (None: not ready, every model endpoint answers 503)."""
    config = config or load_config()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    svc = _Service(model, config, metrics)
    _hooks(app, svc)
    _prediction_routes(app, svc)
    _info_routes(app, svc)
    _error_handlers(app, svc)
    return app
