"""The WSGI application gunicorn serves: POST /predict answered here, everything else by Flask.

A /predict request is the service's hot path. Flask's per-request machinery (request and
response objects, routing, hooks, context locals) costs more than a small model's
prediction, so this front answers it directly with the same parts Flask's route uses:
the bearer token check, X-Request-ID, the JSON error document, the metrics and
_Service.predict_answer. test/unit/test_app.py runs the whole API suite through both fronts.
"""
from __future__ import annotations

from http.client import responses
from time import perf_counter
from typing import Any, Callable, Iterable

from flask import Flask

from . import http
from .errors import RequestError

_STATUS = {code: f"{code} {reason}" for code, reason in responses.items()}


class HotPath:
    def __init__(self, app: Flask):
        self.flask = app
        self.svc = app.extensions["nbs2i"]
        self.limit: int = self.svc.config.max_request_bytes
        self.token: str | None = self.svc.config.api_token

    def gather(self, max_batch: int, wait_seconds: float) -> None:
        """Called by the gevent worker after fork: gather concurrent /predict samples into
        batch_predictor calls (when the notebook defines one and the wait is above 0)."""
        model = self.svc.model
        if model is not None and model.batch_predictor is not None and wait_seconds > 0 and max_batch > 1:
            from .batching import Batcher

            self.svc.batcher = Batcher(model, max_batch, wait_seconds, self.svc.metrics)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/predict" or environ.get("REQUEST_METHOD") != "POST":
            return self.flask(environ, start_response)
        started = perf_counter()
        rid = http.request_id(environ.get("HTTP_X_REQUEST_ID"))
        try:
            http.check_token(environ.get("HTTP_AUTHORIZATION"), self.token)
            data = self._body(environ)
            status, body = self.svc.predict_answer(http.mimetype(environ.get("CONTENT_TYPE")), data, rid)
        except RequestError as exc:
            status, body = exc.status, http.error_document(exc.code, exc.message, rid, exc.details)
        start_response(_STATUS[status], http.json_headers(status, rid, len(body)))
        self.svc.metrics.observe("predict", status, perf_counter() - started)
        return [body]

    def _body(self, environ: dict) -> bytes:
        length: Any = environ.get("CONTENT_LENGTH") or None
        if length is not None:
            length = int(length) if length.isdigit() else 0
            if length > self.limit:
                raise http.too_large(self.limit)
            return environ["wsgi.input"].read(length) if length else b""
        data = environ["wsgi.input"].read(self.limit + 1)  # chunked, framed by the server
        if len(data) > self.limit:
            raise http.too_large(self.limit)
        return data
