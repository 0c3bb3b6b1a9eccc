"""The HTTP API (docs/api.md): create_app() wires a loaded Model to the front gunicorn serves
(front.py) and to Flask's routes for everything but the hot path. The routes raise what they
refuse; the front words it, counts it and checks the token."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from . import encode, figures, http, v2
from .config import Config, load_config
from .contract import EXECUTED_NOTEBOOK_FILE, META_BUILD_ID, META_EXAMPLE
from .errors import RequestError
from .front import REQUEST_ID, Front
from .metrics import Metrics
from .model import Model
from .service import ENDPOINTS, Service

__all__ = ["ENDPOINTS", "create_app"]


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(encode.dumps(body), status, headers, mimetype=http.JSON)


def _rid() -> str:
    return request.environ.get(REQUEST_ID, "")


def _instances() -> list:
    body = http.decode_json(request.mimetype or "", request.get_data(cache=False))
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise RequestError(400, "malformed_batch", 'Send {"instances": [sample, ...]}.')
    return body["instances"]


def _prediction_routes(app: Flask, svc: Service) -> None:
    def batch() -> Response:
        predictions = svc.predictions(_instances())
        return Response(svc.encode({"predictions": predictions}, _rid()), mimetype=http.JSON)

    # POST /predict is answered by the front (front.py); the rule is here so that routing knows it (405 for GET).
    app.add_url_rule("/predict", "predict", None, methods=["POST"])
    app.add_url_rule("/predict/batch", "batch", batch, methods=["POST"])

    @app.get("/v1/models/<name>", endpoint="v1_status")
    def v1_status(name: str) -> Response:
        svc.known(name)
        return _json({"name": name, "ready": svc.model is not None})

    @app.post("/v1/models/<name>:predict", endpoint="v1_predict")
    def v1_predict(name: str) -> Response:
        svc.known(name)
        return batch()


def _v2_routes(app: Flask, svc: Service) -> None:
    """The Open Inference Protocol's REST routes (v2.py)."""
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
        version = version or str(svc.ready_model().metadata.get(META_BUILD_ID, ""))
        # The protocol's clients (tritonclient) send JSON with no Content-Type: the body is JSON here.
        body, headers = v2.infer(svc, name, version, request.get_data(cache=False),
                                 request.headers.get("Inference-Header-Content-Length"), _rid())
        return Response(body, mimetype=http.JSON if not headers else "application/octet-stream", headers=headers)

    app.add_url_rule("/v2", "v2_server", lambda: _json(v2.server_metadata()), methods=["GET"])
    rule("/v2/models/<name>", "v2_model", model)
    rule("/v2/models/<name>/ready", "v2_model_ready", model_ready)
    rule("/v2/models/<name>/infer", "v2_infer", infer, "POST")


def _info_routes(app: Flask, svc: Service) -> None:
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
        return render_template("index.html", name=svc.name, auth=svc.config.api_token is not None)

    def page_data() -> Response:
        """What the page shows of the model (protected like /metadata): example, schema, figures."""
        model = svc.model
        if svc.figures is None:  # read once, on the first view
            svc.figures = figures.from_notebook(model.directory if model else None)
        return _json({"example": model.metadata.get(META_EXAMPLE) if model else None,
                      "schema": model.sample_schema if model else None, "figures": svc.figures,
                      "notebook": bool(model and model.directory and (model.directory / EXECUTED_NOTEBOOK_FILE).is_file()),
                      "metadata": svc.public_metadata})

    def notebook() -> Response:
        path = svc.ready_model().directory / EXECUTED_NOTEBOOK_FILE if svc.model and svc.model.directory else None
        if path is None or not path.is_file():
            raise RequestError(404, "not_found", "This model has no executed notebook (OUT/model/executed.ipynb).")
        return Response(path.read_bytes(), mimetype="application/x-ipynb+json",
                        headers={"Content-Disposition": f'attachment; filename="{svc.name}.executed.ipynb"'})

    def drift() -> Response:
        svc.ready_model()
        return _json(svc.drift.report() if svc.drift else {"model": svc.name, "enabled": False, "reason": svc.drift_off})

    def prometheus() -> Response:
        text = svc.metrics.render() + ("\n".join(svc.drift.render()) + "\n" if svc.drift else "")
        return Response(text, 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    for path, endpoint, view in (("/health/live", "live", live), ("/v2/health/live", "v2_live", v2_live),
                                 ("/health/ready", "ready", ready), ("/v2/health/ready", "v2_ready", v2_ready),
                                 ("/metadata", "metadata", metadata), ("/metrics", "metrics", prometheus),
                                 ("/notebook.ipynb", "notebook", notebook),
                                 ("/openapi.json", "openapi", lambda: _json(svc.spec)),
                                 ("/page.json", "page_data", page_data), ("/drift", "drift", drift),
                                 ("/", "page", page)):
        app.add_url_rule(path, endpoint, view, methods=["GET"])


def _raise_http_errors(app: Flask) -> None:
    """What Flask itself would answer with an HTML page becomes a RequestError for the front."""
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        raise RequestError(exc.code or 500, code, exc.description or code)


def create_app(model: Model | None = None, config: Config | None = None, metrics: Metrics | None = None) -> Front:
    """The service for model (None: not ready, every model endpoint answers 503), as gunicorn serves it."""
    config = config or load_config()
    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = True  # the front answers every error
    svc = Service(model, config, metrics)
    _prediction_routes(app, svc)
    _v2_routes(app, svc)
    _info_routes(app, svc)
    _raise_http_errors(app)
    return Front(svc, app)
