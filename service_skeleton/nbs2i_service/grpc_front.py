"""The Open Inference Protocol over gRPC: KServe's `inference.GRPCInferenceService`, gRPC's
health service (Kubernetes' gRPC probes) and server reflection (grpcurl), on NBS2I_GRPC_PORT.

A front over the one request path, like front.py for HTTP: the same Service (checks, batcher,
drift window, metrics, payload log), the same tensor codecs (v2.py: a message becomes the
REST request's shape, its outputs the REST answer's tensors), the same token, and the same
errors, in gRPC's codes: INVALID_ARGUMENT where REST answers 400, 413 or 422; NOT_FOUND for
another model's name; UNAUTHENTICATED without the bearer token (the `authorization`
metadata); INTERNAL, with the error id, when the predictor raises; DEADLINE_EXCEEDED after
NBS2I_PREDICT_TIMEOUT.

Where it runs: in every gunicorn worker, started once the worker is forked (gunicorn.conf.py's
post_worker_init), never in the master, since grpcio's threads do not survive a fork. Each
worker binds the port with SO_REUSEPORT and the kernel spreads connections over them, as
gunicorn's own socket spreads HTTP's. In the default gevent worker gRPC runs on gevent's
loop (grpc.experimental.gevent), so its calls are greenlets beside the HTTP requests and join
the same batches; in gthread or sync workers, on threads of its own. docs/choices.md has the
figures.

The messages come from the compiled descriptor of grpc_predict_v2.proto (`make proto`), not
generated code, in a pool of their own: any protobuf runtime a notebook's pins leave in
OUT/venv reads it, and a client library's copy of the same proto in the default pool does
not clash with it.
"""
from __future__ import annotations

import contextlib
import logging
import struct
from concurrent import futures
from pathlib import Path
from time import perf_counter
from typing import Any, Callable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from . import encode, http, v2
from .contract import META_BUILD_ID
from .errors import RequestError
from .service import PredictorFailed, Service

log = logging.getLogger("nbs2i")
SERVICE = "inference.GRPCInferenceService"
DESCRIPTOR = Path(__file__).with_name("grpc_predict_v2.binpb")
# REST's status for each refusal -> gRPC's code (the metrics keep REST's status: one table of both)
CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
         404: grpc.StatusCode.NOT_FOUND, 413: grpc.StatusCode.INVALID_ARGUMENT, 415: grpc.StatusCode.INVALID_ARGUMENT,
         422: grpc.StatusCode.INVALID_ARGUMENT, 500: grpc.StatusCode.INTERNAL, 503: grpc.StatusCode.UNAVAILABLE,
         504: grpc.StatusCode.DEADLINE_EXCEEDED}
# Each datatype's field of InferTensorContents (FP16 travels only raw)
CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
            "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
            "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
# The calls a client may make without the token, as REST's probes and GET /v2 are open.
OPEN = frozenset({"ServerLive", "ServerReady", "ServerMetadata"})
ENDPOINTS = {"ServerLive": "grpc_live", "ServerReady": "grpc_ready", "ModelReady": "grpc_model_ready",
             "ServerMetadata": "grpc_server", "ModelMetadata": "grpc_model", "ModelInfer": "grpc_infer"}


def _pool() -> tuple[descriptor_pool.DescriptorPool, dict[str, type]]:
    pool = descriptor_pool.DescriptorPool()
    for proto in descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes()).file:
        pool.Add(proto)
    make = getattr(message_factory, "GetMessageClass", None) or message_factory.MessageFactory(pool).GetPrototype
    names = [m for m in pool.FindFileByName("grpc_predict_v2.proto").message_types_by_name]
    return pool, {name: make(pool.FindMessageTypeByName(f"inference.{name}")) for name in names}


POOL, MESSAGES = _pool()


class GrpcFront:
    """The six calls of the protocol, each a handler that counts, logs and words its outcome."""

    def __init__(self, svc: Service, access_log: Any = None):
        self.svc, self.access_log = svc, access_log
        self.token = svc.config.api_token
        self.deadline: Callable[[], Any] = contextlib.nullcontext

    def handlers(self) -> grpc.GenericRpcHandler:
        calls = {"ServerLive": ("ServerLiveRequest", "ServerLiveResponse", self.server_live),
                 "ServerReady": ("ServerReadyRequest", "ServerReadyResponse", self.server_ready),
                 "ModelReady": ("ModelReadyRequest", "ModelReadyResponse", self.model_ready),
                 "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse", self.server_metadata),
                 "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse", self.model_metadata),
                 "ModelInfer": ("ModelInferRequest", "ModelInferResponse", self.model_infer)}
        return grpc.method_handlers_generic_handler(SERVICE, {
            method: grpc.unary_unary_rpc_method_handler(self._call(method, answer), MESSAGES[asked].FromString,
                                                        MESSAGES[given].SerializeToString)
            for method, (asked, given, answer) in calls.items()})

    def _call(self, method: str, answer: Callable[[Any, str], Any]) -> Callable:
        endpoint, needs_token = ENDPOINTS[method], method not in OPEN
        path = f"/{SERVICE}/{method}"

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            started = perf_counter()
            metadata = dict(context.invocation_metadata())
            rid = http.request_id(metadata.get("x-request-id"))
            context.send_initial_metadata((("x-request-id", rid),))
            status, code, response = 200, grpc.StatusCode.OK, None
            try:
                if needs_token:
                    http.check_token(metadata.get("authorization"), self.token)
                with self.deadline():
                    response = answer(request, rid)
                return response
            except RequestError as exc:
                status, code = exc.status, CODES.get(exc.status, grpc.StatusCode.INTERNAL)
                detail = f" {encode.dumps(exc.details).decode()}" if isinstance(exc.details, list) else ""
                context.abort(code, exc.message + detail)
            except PredictorFailed as exc:
                status, code = 500, grpc.StatusCode.INTERNAL
                context.abort(code, self.svc.failure(exc, rid)[0])
            except Exception:  # noqa: BLE001 - the service's own failure, with its id
                log.exception("internal error (error id %s)", rid)
                status, code = 500, grpc.StatusCode.INTERNAL
                context.abort(code, f"The service failed; error id {rid} (see the service log).")
            finally:
                seconds = perf_counter() - started
                self.svc.metrics.observe(endpoint, status, seconds)
                if self.access_log is not None:
                    self.access_log.record(context.peer(), "GRPC", path, code.name,
                                           response.ByteSize() if response is not None else 0,
                                           int(seconds * 1_000_000), rid)

        return handle

    def server_live(self, request: Any, rid: str) -> Any:
        return MESSAGES["ServerLiveResponse"](live=True)

    def server_ready(self, request: Any, rid: str) -> Any:
        return MESSAGES["ServerReadyResponse"](ready=self.svc.model is not None)

    def model_ready(self, request: Any, rid: str) -> Any:
        self.svc.known(request.name)
        return MESSAGES["ModelReadyResponse"](ready=self.svc.model is not None)

    def server_metadata(self, request: Any, rid: str) -> Any:
        return MESSAGES["ServerMetadataResponse"](**v2.server_metadata())

    def model_metadata(self, request: Any, rid: str) -> Any:
        self.svc.known(request.name)
        model = self.svc.ready_model()
        found = v2.model_metadata(request.name, model.metadata, model.sample_schema)
        tensor = MESSAGES["ModelMetadataResponse"].TensorMetadata
        return MESSAGES["ModelMetadataResponse"](
            name=found["name"], versions=found["versions"], platform=found["platform"],
            inputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in found["inputs"]],
            outputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in found["outputs"]])

    def model_infer(self, request: Any, rid: str) -> Any:
        self.svc.known(request.model_name)
        version = request.model_version or str(self.svc.ready_model().metadata.get(META_BUILD_ID, ""))
        asked = as_rest(request)
        tensors = v2.predicted(self.svc, asked, rid)
        response = answer(request, version, tensors, rid)
        if self.svc.payloads is not None:  # logged as REST's JSON: a sink reads it without this proto
            rest = {"model_name": request.model_name, "model_version": version, "outputs": tensors}
            self.svc.payloads.record(rid, "grpc_infer", encode.dumps(asked), http.JSON, encode.dumps(rest), http.JSON)
        return response


def as_rest(request: Any) -> dict[str, Any]:
    """A ModelInferRequest as the REST request v2.samples reads: each input's elements from its
    contents, or from raw_input_contents (little-endian, as the binary extension's)."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise RequestError(400, "bad_tensor", f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: send "
                           "one per input, or none and each input's contents.")
    for output in request.outputs:
        try:
            v2.known_output(output.name)
        except v2.ProtocolError as exc:
            raise RequestError(400, "bad_tensor", str(exc)) from None
    inputs = []
    for i, tensor in enumerate(request.inputs):
        try:
            data = v2.unpack(tensor.name, tensor.datatype, raw[i]) if raw else _contents(tensor)
        except v2.ProtocolError as exc:
            raise RequestError(400, "bad_tensor", str(exc)) from None
        inputs.append({"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape), "data": data,
                       "parameters": {key: _value(p) for key, p in tensor.parameters.items()}})
    found: dict[str, Any] = {"inputs": inputs}
    if request.id:
        found["id"] = request.id
    return found


def _contents(tensor: Any) -> list:
    field = CONTENTS.get(tensor.datatype)
    if field is None:
        return []  # v2.samples names the datatype it does not know (FP16 given as contents: its count)
    values = list(getattr(tensor.contents, field))
    if tensor.datatype != "BYTES":
        return values
    try:
        return [value.decode("utf-8") for value in values]
    except UnicodeDecodeError as exc:
        raise v2.ProtocolError(f"Input {tensor.name!r}: a BYTES element is not UTF-8 text ({exc.reason} at byte "
                               f"{exc.start}); this model takes text.") from None


def _value(parameter: Any) -> Any:
    kind = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, kind) if kind else None


def answer(request: Any, version: str, tensors: list[dict[str, Any]], rid: str) -> Any:
    """The ModelInferResponse of REST's output tensors: raw contents when the request came raw
    (Triton's clients read them so), else each tensor's typed contents."""
    response = MESSAGES["ModelInferResponse"](model_name=request.model_name, model_version=version, id=request.id)
    raw = bool(request.raw_input_contents)
    try:
        for tensor in tensors:
            out = response.outputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
            for key, value in tensor.get("parameters", {}).items():
                out.parameters[key].string_param = str(value)
            data = tensor["data"]
            if raw:
                response.raw_output_contents.append(v2.pack(tensor["datatype"], data))
            else:
                getattr(out.contents, CONTENTS[tensor["datatype"]]).extend(
                    [str(v).encode() for v in data] if tensor["datatype"] == "BYTES" else data)
    except (ValueError, OverflowError, TypeError, struct.error) as exc:
        log.error("prediction cannot be encoded as a tensor (request %s): %s", rid, exc)
        raise RequestError(500, "unencodable_prediction", f"The prediction does not fit its tensor ({exc}): an integer "
                           "beyond 64 bits? Return numbers of 64 bits, strings, or lists of them.") from None
    return response


class Running:
    """A started gRPC server and its health service; stop() drains it."""

    def __init__(self, server: grpc.Server, health: Any, port: int):
        self.server, self.health, self.port = server, health, port
        self.stopped: Any = None

    def stop(self, grace: float) -> Any:
        """Stop taking calls (health says NOT_SERVING first), let those in flight finish within grace."""
        if self.stopped is None:
            self.health.enter_graceful_shutdown()
            self.stopped = self.server.stop(grace)
        return self.stopped


def serve(svc: Service, host: str, port: int, gevent: bool, workers: int, access_log: Any = None,
          predict_timeout: float | None = None) -> Running:
    """Start the gRPC server of this worker process on host:port (shared by every worker)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection, reflection_pb2

    front = GrpcFront(svc, access_log)
    if gevent:
        from grpc.experimental import gevent as grpc_gevent

        grpc_gevent.init_gevent()
        if predict_timeout:
            import gevent as _gevent

            def deadline() -> Any:
                return _gevent.Timeout(predict_timeout, RequestError(
                    504, "prediction_timeout", f"No answer within {predict_timeout:g} s (NBS2I_PREDICT_TIMEOUT): the "
                    "predictor is waiting on something; the call was abandoned."))
            front.deadline = deadline
    options = [("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", svc.config.max_request_bytes),
               ("grpc.max_send_message_length", -1)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=options)
    server.add_generic_rpc_handlers((front.handlers(),))
    checks = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    for file in (health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):  # reflection answers from our pool
        with contextlib.suppress(TypeError, ValueError):  # already there (a second server in one process)
            POOL.Add(descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb))
    reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server, pool=POOL)
    bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    if not bound:
        raise OSError(f"gRPC could not bind {host}:{port}")
    server.start()
    for name in ("", SERVICE):
        checks.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Running(server, checks, bound)
