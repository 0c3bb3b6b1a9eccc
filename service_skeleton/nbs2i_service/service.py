"""What every front shares (HTTP's front.py and app.py, the gRPC front): the model, its checks,
the scoring of one sample or many, and what a failure means. Protocol-neutral: a refusal is a
RequestError (status, code, message), a predictor's failure a PredictorFailed; each front words
them in its protocol."""
from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from . import encode, http
from .config import Config
from .contract import META_BUILD_ID, PRIVATE_META_KEYS
from .drift import for_model
from .errors import RequestError
from .metrics import Metrics
from .model import BatchFailed, BatchRejected, Model, SampleRejected
from .openapi import build_spec
from .payloads import PayloadLog

log = logging.getLogger("nbs2i")
ENDPOINTS = ("predict", "batch", "v1_status", "v1_predict", "v2_infer", "v2_model", "v2_model_ready", "v2_server",
             "metadata", "notebook", "live", "ready", "v2_live", "v2_ready", "metrics", "openapi", "page", "page_data",
             "drift", "grpc_live", "grpc_ready", "grpc_model_ready", "grpc_server", "grpc_model", "grpc_infer")
# what the payload log records
PREDICTION_ENDPOINTS = ("predict", "batch", "v1_predict", "v2_infer", "grpc_infer")


class PredictorFailed(Exception):
    """The notebook's code raised: a 500 with an error id, the traceback only in the log.
    failed: the indices of a batch's samples that raised (None for one sample)."""

    def __init__(self, cause: BaseException, failed: list[int] | None = None, total: int = 1):
        super().__init__(str(cause))
        self.cause, self.failed, self.total = cause, failed, total


class Service:
    """The model (None until loaded), the config, the metrics and, in the default (gevent)
    worker, the batcher that gathers concurrent single-sample requests."""

    def __init__(self, model: Model | None, config: Config, metrics: Metrics | None):
        self.model, self.config = model, config
        self.name = model.name if model else "model"
        self.metrics = metrics or Metrics(ENDPOINTS, self.name, str(model.metadata.get(META_BUILD_ID, "")) if model else "")
        self.spec = build_spec(model.metadata if model else {}, config.infer_schema)
        self.public_metadata = {k: v for k, v in (model.metadata if model else {}).items() if k not in PRIVATE_META_KEYS}
        self.batcher: Any = None
        self.figures: list | None = None
        self.drift, self.drift_off = for_model(model, config)  # made before gunicorn forks: one window for all
        self.payloads = PayloadLog(config, self.name, self.metrics.payload) if config.log_url else None

    def gather(self, max_batch: int, wait_seconds: float) -> None:
        """Called by the gevent worker after fork: gather concurrent single samples into
        batch_predictor calls (when the notebook defines one and the wait is above 0)."""
        if self.model is not None and self.model.batch_predictor is not None and wait_seconds > 0 and max_batch > 1:
            from .batching import Batcher

            self.batcher = Batcher(self.model, max_batch, wait_seconds, self.metrics)
            self.batcher.calibrate()  # times the model here, after fork; the log says what it decided

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
            raise RequestError(422, "rejected", with_hint(exc.message, model), {"path": exc.path} if exc.path else None) from None
        try:
            prediction = self.batcher.predict(sample) if self.batcher else model.predictor(sample)
        except Exception as exc:
            self.metrics.predicted(failed=True)
            if self.drift:
                self.drift.observe([sample], [None], [False])
            raise PredictorFailed(exc) from exc
        self.metrics.predicted()
        if self.drift:
            self.drift.observe([sample], [prediction])
        return prediction

    def predict_answer(self, media_type: str, data: bytes, rid: str) -> bytes:
        """POST /predict from its body to its answer's body (the front's hot path)."""
        return self.encode({"prediction": self.predict(http.decode_json(media_type, data))}, rid)

    def predictions(self, samples: list) -> list:
        """Every sample checked, then scored together (Model.predict_batch: the rule of every batch endpoint)."""
        model = self.ready_model()
        cap = self.config.max_batch_instances
        if len(samples) > cap:
            raise RequestError(413, "too_many_instances", f"{len(samples)} instances are over the cap of {cap} per request "
                               "(NBS2I_MAX_BATCH_INSTANCES): split the batch, or raise the cap.")
        try:
            predictions = model.predict_batch(samples, self.metrics.fell_back)
        except BatchRejected as exc:
            raise RequestError(422, "rejected", with_hint(f"{len(exc.rejected)} of {len(samples)} samples were rejected.",
                                                          model), exc.rejected) from None
        except BatchFailed as exc:
            self.metrics.predicted(len(samples) - len(exc.failed))
            self.metrics.predicted(len(exc.failed), failed=True)
            if self.drift:
                failed = {i for i, _ in exc.failed}
                self.drift.observe(samples, exc.results, [i not in failed for i in range(len(samples))])
            raise PredictorFailed(exc.failed[0][1], [i for i, _ in exc.failed], len(samples)) from None
        self.metrics.predicted(len(samples))
        if self.drift:
            self.drift.observe(samples, predictions)
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

    def failure(self, exc: PredictorFailed, rid: str) -> tuple[str, str]:
        """(message, traceback) of a predictor that raised; the traceback goes to the log."""
        trace = "".join(traceback.format_exception(exc.cause))
        where = "" if exc.failed is None else f" on {len(exc.failed)} of {exc.total} samples"
        log.error("predictor failed%s (error id %s):\n%s", where, rid, trace)
        return f"The predictor raised {type(exc.cause).__name__}{where}; error id {rid} (see the service log).", trace

    def known(self, asked: str) -> None:
        if asked != self.name:
            raise RequestError(404, "unknown_model", f"No model named {asked!r} here; this service serves {self.name!r}.")


def with_hint(message: str, model: Model) -> str:
    """A rejection's message, then what a valid sample looks like (from example or input_schema)."""
    return f"{message}. {model.valid_sample}" if model.valid_sample and not message.endswith(".") else \
        f"{message} {model.valid_sample}".strip()
