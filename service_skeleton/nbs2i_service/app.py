"""The Flask application: create_app() wires a loaded Model to the HTTP API (docs/api.md)."""
from __future__ import annotations

import logging
import time
import traceback
from typing import Any, Callable

from flask import Flask, Response, current_app, g, render_template, request
from werkzeug.exceptions import HTTPException

from . import encode, figures, http, v2
from .config import Config, load_config
from .contract import EXECUTED_NOTEBOOK_FILE, META_BUILD_ID, META_EXAMPLE, PRIVATE_META_KEYS
from .errors import RequestError
from .metrics import Metrics
from .model import BatchRejected, Model, SampleRejected
from .openapi import build_spec

log = logging.getLogger("nbs2i")
OPEN_ENDPOINTS = {"live", "ready", "v2_live", "v2_ready", "v2_server", "metrics", "page", "openapi", "static"}
ENDPOINTS = ("predict", "batch", "v1_status", "v1_predict", "v2_infer", "v2_model", "v2_model_ready", "v2_server",
             "metadata", "notebook", "live", "ready", "v2_live", "v2_ready", "metrics", "openapi", "page")
VERSION = "0.1.0"


class _PredictorFailed(Exception):
    """The notebook's code raised; a 500 with an error id, the traceback only in the log."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


class _Service:
    """What the routes share: the model (None until loaded), the config, the metrics and,
    in the default (gevent) worker, the batcher that gathers concurrent /predict calls."""

    def __init__(self, model: Model | None, config: Config, metrics: Metrics | None):
        self.model, self.config = model, config
        self.name = model.name if model else "model"
        self.metrics = metrics or Metrics(ENDPOINTS, self.name, str(model.metadata.get(META_BUILD_ID, "")) if model else "")
        self.spec = build_spec(model.metadata if model else {}, config.infer_schema)
        self.public_metadata = {k: v for k, v in (model.metadata if model else {}).items() if k not in PRIVATE_META_KEYS}
        self.batcher: Any = None
        self.figures: list | None = None

    def ready_model(self) -> Model:
        if self.model is None:
            raise RequestError(503, "not_ready", "The model is not loaded yet; retry shortly.")
        return self.model

    def predict(self, sample: Any) -> Any:
        """One sample checked on its own, then scored (with concurrent ones when batching)."""
        model = self.ready_model()
        try:
            model.check(sample)
        except SampleRejected as exc:
            raise RequestError(422, "rejected", _with_hint(exc.message, model), {"path": exc.path} if exc.path else None) from None
        try:
            prediction = self.batcher.predict(sample) if self.batcher else model.predictor(sample)
        except Exception as exc:
            self.metrics.predicted(failed=True)
            raise _PredictorFailed(exc) from exc
        self.metrics.predicted()
        return prediction

    def predict_answer(self, media_type: str, data: bytes, rid: str) -> tuple[int, bytes]:
        """POST /predict from its body to its answer; both fronts (Flask, hot path) call this."""
        try:
            return 200, self.encode({"prediction": self.predict(http.decode_json(media_type, data))}, rid)
        except RequestError as exc:
            return exc.status, http.error_document(exc.code, exc.message, rid, exc.details)
        except _PredictorFailed as exc:
            return 500, self.failure_document(exc, rid)

    def predict_batch(self, samples: list) -> Response:
        predictions = self.predictions(samples)
        return Response(self.encode({"predictions": predictions}, g.get("request_id", "")), mimetype=http.JSON)

    def predictions(self, samples: list) -> list:
        """Every sample checked, then scored together (batch_predictor when the notebook has one)."""
        model = self.ready_model()
        cap = self.config.max_batch_instances
        if len(samples) > cap:
            raise RequestError(413, "too_many_instances", f"{len(samples)} instances are over the cap of {cap} per request "
                               "(NBS2I_MAX_BATCH_INSTANCES): split the batch, or raise the cap.")
        try:
            predictions = model.predict_batch(samples)
        except BatchRejected as exc:
            raise RequestError(422, "rejected", _with_hint(f"{len(exc.rejected)} of {len(samples)} samples were rejected.",
                                                           model), exc.rejected) from None
        except Exception as exc:
            self.metrics.predicted(len(samples), failed=True)
            raise _PredictorFailed(exc) from exc
        self.metrics.predicted(len(samples))
        return predictions

    def encode(self, body: Any, rid: str, how: Callable[[Any], Any] | None = None) -> Any:
        """how(body), JSON bytes by default; a TypeError (a value JSON cannot hold) is a 500 that says so."""
        try:
            return (how or encode.dumps)(body)
        except TypeError as exc:
            log.error("prediction cannot be encoded as JSON (request %s): %s", rid, exc)
            raise RequestError(500, "unencodable_prediction",
                               f"The predictor returned a value JSON cannot hold ({exc}). Return lists, dicts, "
                               "strings and numbers (numpy and pandas values are converted).") from None

    def failure_document(self, exc: _PredictorFailed, rid: str, protocol_v2: bool = False) -> bytes:
        """The 500 body for a predictor that raised (the Open Inference Protocol's {"error": "..."} on /v2)."""
        trace = "".join(traceback.format_exception(exc.cause))
        log.error("predictor failed (error id %s):\n%s", rid, trace)
        message = f"The predictor raised {type(exc.cause).__name__}; error id {rid} (see the service log)."
        if protocol_v2:
            return encode.dumps({"error": message})
        return http.error_document("prediction_failed", message, rid, {"traceback": trace} if self.config.debug else None)

    def known(self, asked: str) -> None:
        if asked != self.name:
            raise RequestError(404, "unknown_model", f"No model named {asked!r} here; this service serves {self.name!r}.")


def _with_hint(message: str, model: Model) -> str:
    """A rejection's message, then what a valid sample looks like (from example or input_schema)."""
    return f"{message}. {model.valid_sample}" if model.valid_sample and not message.endswith(".") else \
        f"{message} {model.valid_sample}".strip()


def _json_body_bytes() -> bytes:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise http.too_large(limit)
    return request.get_data(cache=False)


def _json_body() -> Any:
    return http.decode_json(request.mimetype or "", _json_body_bytes())


def _json(body: Any, status: int = 200) -> Response:
    return Response(encode.dumps(body), status, mimetype=http.JSON)


def _error(status: int, code: str, message: str, details: Any = None) -> Response:
    rid = g.get("request_id") or http.request_id(request.headers.get("X-Request-ID"))
    body = http.error_document(code, message, rid, details)
    return Response(body, status, http.json_headers(status, rid, len(body)))


def _instances() -> list:
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise RequestError(400, "malformed_batch", 'Send {"instances": [sample, ...]}.')
    return body["instances"]


def _hooks(app: Flask, svc: _Service) -> None:
    @app.before_request
    def _before() -> None:
        g.started = time.perf_counter()
        g.request_id = http.request_id(request.headers.get("X-Request-ID"))
        if request.endpoint not in OPEN_ENDPOINTS and request.endpoint is not None:
            http.check_token(request.headers.get("Authorization"), svc.config.api_token)

    @app.after_request
    def _after(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or http.request_id(request.headers.get("X-Request-ID"))
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        svc.metrics.observe(request.endpoint or "other", response.status_code, elapsed)
        return response


def _prediction_routes(app: Flask, svc: _Service) -> None:
    def predict() -> Response:
        try:
            data = _json_body_bytes()
        except RequestError as exc:
            return _error(exc.status, exc.code, exc.message)
        status, body = svc.predict_answer(request.mimetype or "", data, g.request_id)
        return Response(body, status, mimetype=http.JSON)

    app.add_url_rule("/predict", "predict", predict, methods=["POST"])
    app.add_url_rule("/predict/batch", "batch", lambda: svc.predict_batch(_instances()), methods=["POST"])

    @app.get("/v1/models/<name>", endpoint="v1_status")
    def v1_status(name: str) -> Response:
        svc.known(name)
        return _json({"name": name, "ready": svc.model is not None})

    @app.post("/v1/models/<name>:predict", endpoint="v1_predict")
    def v1_predict(name: str) -> Response:
        svc.known(name)
        return svc.predict_batch(_instances())


def _v2_routes(app: Flask, svc: _Service) -> None:
    """The Open Inference Protocol's REST routes (v2.py); errors are its {"error": "..."}."""
    def rule(path: str, endpoint: str, view, method: str = "GET") -> None:
        app.add_url_rule(path, endpoint, view, methods=[method])
        app.add_url_rule(path.replace("/<name>", "/<name>/versions/<version>"), endpoint, view, methods=[method])

    def model(name: str, version: str | None = None) -> Response:
        svc.known(name)
        model = svc.ready_model()
        return _json(v2.model_metadata(name, model.metadata, model.sample_schema))

    def model_ready(name: str, version: str | None = None) -> Response:
        svc.known(name)
        return _json({"name": name, "ready": svc.model is not None}, 200 if svc.model is not None else 503)

    def infer(name: str, version: str | None = None) -> Response:
        svc.known(name)
        binary = request.headers.get("Inference-Header-Content-Length")
        try:
            # The protocol's clients (tritonclient) send JSON with no Content-Type: the body is JSON here.
            data = _json_body_bytes()
            body = v2.with_binary(data, binary) if binary is not None else http.decode_json(http.JSON, data)
            samples = v2.samples(body, svc.ready_model().sample_schema)
        except v2.ProtocolError as exc:
            raise RequestError(400, "bad_tensor", str(exc)) from None
        predictions = [svc.predict(samples[0])] if len(samples) == 1 else svc.predictions(samples)
        rid = g.get("request_id", "")
        outputs = svc.encode(predictions, rid, lambda ps: v2.outputs([encode.to_jsonable(p) for p in ps]))
        answer = {"model_name": name, "model_version": version or str(svc.ready_model().metadata.get(META_BUILD_ID, "")),
                  "outputs": outputs}
        if isinstance(body.get("id"), str):
            answer["id"] = body["id"]
        return Response(svc.encode(answer, rid), mimetype=http.JSON)

    app.add_url_rule("/v2", "v2_server", lambda: _json({"name": "nbs2i", "version": VERSION, "extensions": []}),
                     methods=["GET"])
    rule("/v2/models/<name>", "v2_model", model)
    rule("/v2/models/<name>/ready", "v2_model_ready", model_ready)
    rule("/v2/models/<name>/infer", "v2_infer", infer, "POST")


def _info_routes(app: Flask, svc: _Service) -> None:
    def live() -> Response:
        return _json({"status": "alive"})

    def ready() -> Response:
        svc.ready_model()
        return _json({"status": "ready", "model": svc.name})

    def v2_live() -> Response:
        return _json({"live": True})

    def v2_ready() -> Response:
        return _json({"ready": svc.model is not None}, 200 if svc.model is not None else 503)

    def metadata() -> Response:
        svc.ready_model()
        return _json(svc.public_metadata)

    def page() -> Response | str:
        # Browsers get the page; every other client (KServe's V1 server-live check, curl) the JSON.
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html":
            return live()
        model = svc.model
        if svc.figures is None:  # read once, on the first view
            svc.figures = figures.from_notebook(model.directory if model else None)
        return render_template("index.html", name=svc.name, auth=svc.config.api_token is not None,
                               example=encode.dumps(model.metadata.get(META_EXAMPLE) if model else None).decode(),
                               # inside <script>: no "</" may close it early
                               schema=encode.dumps(model.sample_schema if model else None).decode().replace("</", "<\\/"),
                               figures=svc.figures, notebook=bool(model and model.directory and
                                                                  (model.directory / EXECUTED_NOTEBOOK_FILE).is_file()))

    def notebook() -> Response:
        path = svc.ready_model().directory / EXECUTED_NOTEBOOK_FILE if svc.model and svc.model.directory else None
        if path is None or not path.is_file():
            raise RequestError(404, "not_found", "This model has no executed notebook (OUT/model/executed.ipynb).")
        return Response(path.read_bytes(), mimetype="application/x-ipynb+json",
                        headers={"Content-Disposition": f'attachment; filename="{svc.name}.executed.ipynb"'})

    prometheus = lambda: (svc.metrics.render(), 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
    for path, endpoint, view in (("/health/live", "live", live), ("/v2/health/live", "v2_live", v2_live),
                                 ("/health/ready", "ready", ready), ("/v2/health/ready", "v2_ready", v2_ready),
                                 ("/metadata", "metadata", metadata), ("/metrics", "metrics", prometheus),
                                 ("/notebook.ipynb", "notebook", notebook),
                                 ("/openapi.json", "openapi", lambda: _json(svc.spec)),
                                 ("/", "page", page)):
        app.add_url_rule(path, endpoint, view, methods=["GET"])


def _error_handlers(app: Flask, svc: _Service) -> None:
    @app.errorhandler(RequestError)
    def _request_error(exc: RequestError) -> Response:
        if request.path.startswith("/v2/"):  # the Open Inference Protocol's error: {"error": "..."}, 400 for bad input
            status = 400 if exc.status == 422 else exc.status
            detail = f" {encode.dumps(exc.details).decode()}" if isinstance(exc.details, list) else ""
            return _json({"error": exc.message + detail}, status)
        return _error(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(_PredictorFailed)
    def _predictor_failed(exc: _PredictorFailed) -> Response:
        rid = g.get("request_id", "")
        body = svc.failure_document(exc, rid, protocol_v2=request.path.startswith("/v2/"))
        return Response(body, 500, http.json_headers(500, rid, len(body)))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        rid = g.get("request_id", "")
        log.exception("internal error (error id %s)", rid)
        return _error(500, "internal_error", f"The service failed; error id {rid} (see the service log).")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            error = http.too_large(svc.config.max_request_bytes)
            return _error(413, error.code, error.message)
        code = (exc.name or "error").lower().replace(" ", "_")
        message = {404: "No such endpoint; see /openapi.json for the API.",
                   405: f"{request.method} is not allowed here; see /openapi.json."}.get(exc.code or 500, exc.description or code)
        return _error(exc.code or 500, code, message)


def create_app(model: Model | None = None, config: Config | None = None, metrics: Metrics | None = None) -> Flask:
    """The service for model (None: not ready, every model endpoint answers 503)."""
    config = config or load_config()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    svc = _Service(model, config, metrics)
    app.extensions["nbs2i"] = svc
    _hooks(app, svc)
    _prediction_routes(app, svc)
    _v2_routes(app, svc)
    _info_routes(app, svc)
    _error_handlers(app, svc)
    return app
