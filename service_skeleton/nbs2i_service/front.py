"""The WSGI application gunicorn serves: every HTTP request passes here once, and only here are
the request id, the bearer token, the body's limit, the error document and the metrics handled.

`POST /predict` is the service's hot path and is answered here directly: Flask's per-request
machinery (request and response objects, context locals) costs more than a small model's
prediction. Every other route is Flask's (app.py), called once the front has done the above.
Flask raises what it refuses (PROPAGATE_EXCEPTIONS), so its routes never write an error body.
The unit tests drive this object, the one wsgi.py hands gunicorn.
"""
from __future__ import annotations

import io
import logging
from http.client import responses
from time import perf_counter
from typing import Any, Callable, Iterable

from flask import Flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from . import encode, http
from .errors import RequestError
from .service import PREDICTION_ENDPOINTS, PredictorFailed, Service

log = logging.getLogger("nbs2i")
_STATUS = {code: f"{code} {reason}" for code, reason in responses.items()}
# What a client may read without the token: probes, Prometheus, the protocol's server metadata,
# and the page's shell (which asks for the token before it shows anything of the model).
OPEN_ENDPOINTS = frozenset({"live", "ready", "v2_live", "v2_ready", "v2_server", "metrics", "page"})
REQUEST_ID = "nbs2i.request_id"  # the environ key the routes read the request id from


class Front:
    def __init__(self, svc: Service, flask: Flask):
        self.svc, self.flask = svc, flask
        self.limit: int = svc.config.max_request_bytes
        self.token: str | None = svc.config.api_token

    def gather(self, max_batch: int, wait_seconds: float) -> None:
        self.svc.gather(max_batch, wait_seconds)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = perf_counter()
        rid = http.request_id(environ.get("HTTP_X_REQUEST_ID"))
        endpoint, body = "other", b""
        try:
            if environ.get("PATH_INFO") == "/predict" and environ.get("REQUEST_METHOD") == "POST":
                endpoint = "predict"
                http.check_token(environ.get("HTTP_AUTHORIZATION"), self.token)
                body = self._body(environ)
                answer = self.svc.predict_answer(http.mimetype(environ.get("CONTENT_TYPE")), body, rid)
                status, headers, chunks = 200, http.json_headers(200, rid, len(answer)), [answer]
            else:
                endpoint = self._match(environ)
                status, headers, chunks, body = self._routed(environ, endpoint, rid)
        except Exception as exc:  # noqa: BLE001 - every failure answers with the error document
            status, answer = self._failure(exc, environ.get("PATH_INFO", ""), rid)
            headers, chunks = http.json_headers(status, rid, len(answer)), [answer]
        if self.svc.payloads is not None and endpoint in PREDICTION_ENDPOINTS and body:
            chunks = self._logged(environ, endpoint, rid, body, headers, chunks)
        start_response(_STATUS[status], headers)
        self.svc.metrics.observe(endpoint, status, perf_counter() - started)
        return chunks

    def _logged(self, environ: dict, endpoint: str, rid: str, body: bytes, headers: list,
                chunks: Iterable[bytes]) -> list[bytes]:
        """Hand the request and its answer to the payload log (payloads.py), which sends them later."""
        answer = b"".join(chunks)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        given = environ.get("CONTENT_TYPE") or http.JSON
        if environ.get("HTTP_INFERENCE_HEADER_CONTENT_LENGTH"):
            given = "application/octet-stream"  # the Open Inference Protocol's binary tensors
        sent = next((v for k, v in headers if k.lower() == "content-type"), http.JSON)
        self.svc.payloads.record(rid, endpoint, body, given, answer, sent)
        return [answer]

    def refused(self, path: str | None, method: str | None, status: int, seconds: float) -> None:
        """A request the worker answered itself (408, 413, 504, framing): counted like the rest."""
        self.svc.metrics.observe(self.endpoint(path, method), status, seconds)

    def endpoint(self, path: str | None, method: str | None) -> str:
        """The metrics label of a request (the route's endpoint; "other" when none matches)."""
        if path == "/predict":
            return "predict"
        if not path:  # refused before its request line was read
            return "other"
        try:
            return self.flask.url_map.bind("localhost").match(path or "/", method or "GET")[0]
        except HTTPException:
            return "other"

    def _match(self, environ: dict) -> str:
        try:
            return self.flask.url_map.bind_to_environ(environ).match()[0]
        except MethodNotAllowed:
            raise RequestError(405, "method_not_allowed",
                               f"{environ.get('REQUEST_METHOD')} is not allowed here; see /openapi.json.") from None
        except NotFound:
            raise RequestError(404, "not_found", "No such endpoint; see /openapi.json for the API.") from None

    def _routed(self, environ: dict, endpoint: str, rid: str) -> tuple[int, list, Iterable[bytes], bytes]:
        """Flask answers a route, once the token and the body are checked; (status, headers, chunks, body)."""
        if endpoint not in OPEN_ENDPOINTS:
            http.check_token(environ.get("HTTP_AUTHORIZATION"), self.token)
        body = b""
        if environ.get("REQUEST_METHOD") == "POST":
            body = self._body(environ)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        environ[REQUEST_ID] = rid
        answered: list = []

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            answered[:] = [int(status[:3]), headers + [("X-Request-ID", rid)]]
            return lambda data: None

        chunks = self.flask.wsgi_app(environ, start)
        return answered[0], answered[1], chunks, body

    def _body(self, environ: dict) -> bytes:
        """The request's body within NBS2I_MAX_REQUEST_BYTES (the gevent worker has read it already)."""
        return http.bounded_body(environ["wsgi.input"].read, http.declared_length(environ.get("CONTENT_LENGTH")),
                                 self.limit)

    def _failure(self, exc: Exception, path: str, rid: str) -> tuple[int, bytes]:
        """The error document of a refusal or a failure; the Open Inference Protocol's {"error"} on /v2/."""
        v2 = path.startswith("/v2/")
        if isinstance(exc, RequestError):
            if v2:  # the protocol answers 400 for what it cannot take, a rejected sample included
                detail = f" {encode.dumps(exc.details).decode()}" if isinstance(exc.details, list) else ""
                return 400 if exc.status == 422 else exc.status, encode.dumps({"error": exc.message + detail})
            return exc.status, http.error_document(exc.code, exc.message, rid, exc.details)
        if isinstance(exc, PredictorFailed):
            message, trace = self.svc.failure(exc, rid)
            if v2:
                return 500, encode.dumps({"error": message})
            details: Any = {"traceback": trace} if self.svc.config.debug else None
            if exc.failed is not None:
                details = {**(details or {}), "failed": exc.failed}
            return 500, http.error_document("prediction_failed", message, rid, details)
        log.exception("internal error (error id %s)", rid)
        return 500, http.error_document("internal_error", f"The service failed; error id {rid} (see the service log).",
                                        rid)
