"""The Open Inference Protocol (KServe V2) over REST: tensors in, samples out, and back.

How tensors become the notebook's samples (the way MLServer's codecs read them):
- one input of shape [N, ...] is N samples, its rows (shape [N] gives N scalars);
- several named inputs of shape [N] (or [N, ...]) are N dict samples keyed by input name;
  so is a single input whose name is a property of an object `input_schema`;
- BYTES elements are strings, parsed as JSON when the input's parameters say
  `"content_type": "application/json"` (or "json").
Predictions become one output named "prediction": a numeric tensor ([N] or [N, K]) when
every prediction is a number or all are numeric lists of one length, else BYTES holding
each prediction as JSON (`content_type` "application/json").
Errors are the protocol's `{"error": "..."}` with 400 (front.py words them).

The binary tensor data extension (Triton's clients send inputs this way by default) is read:
`Inference-Header-Content-Length` bytes of JSON, then each input whose parameters give a
`binary_data_size`, in order, little-endian (BYTES: a 4-byte length before each element, the
element UTF-8 text). Outputs are binary the same way when the request asks for them (the
request's `binary_data_output` parameter, or an output's own `binary_data`), as tritonclient does
by default; the answer's `Inference-Header-Content-Length` header then says where its JSON ends.
"""
from __future__ import annotations

import math
import struct
from typing import Any, Mapping

from . import encode, http
from .contract import META_EXAMPLE_PREDICTION
from .errors import RequestError

NUMERIC = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
OUTPUT = "prediction"
EXTENSIONS = ["binary_tensor_data"]  # Triton's name for the binary tensor data extension
_JSON_TYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


class ProtocolError(ValueError):
    """A request the protocol refuses: 400 {"error": message}."""


_STRUCT = {"BOOL": "?", "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q", "INT8": "b", "INT16": "h",
           "INT32": "i", "INT64": "q", "FP16": "e", "FP32": "f", "FP64": "d"}


SERVER_VERSION = "0.1.0"


def server_metadata() -> dict[str, Any]:
    return {"name": "nbs2i", "version": SERVER_VERSION, "extensions": EXTENSIONS}


def infer(svc: Any, name: str, version: str, data: bytes, header_length: str | None, rid: str) -> tuple[bytes, dict]:
    """An inference request's body to its answer's (body, extra headers): its samples scored by
    svc (one alone, with concurrent ones; several together, as /predict/batch)."""
    request = with_binary(data, header_length) if header_length is not None else http.decode_json(http.JSON, data)
    try:
        binary = _binary_outputs(request)
    except ProtocolError as exc:
        raise RequestError(400, "bad_tensor", str(exc)) from None
    tensors = predicted(svc, request, rid)
    answer: dict[str, Any] = {"model_name": name, "model_version": version, "outputs": tensors}
    if isinstance(request.get("id"), str):
        answer["id"] = request["id"]
    if not binary:
        return svc.encode(answer, rid), {}
    raw = b"".join(_pack(tensor) for tensor in tensors)
    header = encode.dumps(answer)
    return header + raw, {"Inference-Header-Content-Length": str(len(header))}


def predicted(svc: Any, request: Any, rid: str) -> list[dict[str, Any]]:
    """The output tensors for a request's input tensors (both fronts: REST's JSON, gRPC's messages
    made into the same shape): one sample alone, with concurrent ones; several together."""
    try:
        found = samples(request, svc.ready_model().sample_schema)
    except ProtocolError as exc:
        raise RequestError(400, "bad_tensor", str(exc)) from None
    predictions = [svc.predict(found[0])] if len(found) == 1 else svc.predictions(found)
    return svc.encode(predictions, rid, lambda ps: outputs([encode.to_jsonable(p) for p in ps]))


def with_binary(data: bytes, header_length: str) -> Any:
    """The JSON request of a binary-extension body, its binary inputs decoded into "data"."""
    value = header_length.strip()
    if not value.isdigit() or not 0 < int(value) <= len(data):
        raise RequestError(400, "bad_tensor", f"Inference-Header-Content-Length {header_length!r} is not a length "
                           f"within the body's {len(data)} bytes.")
    length = int(value)
    try:
        request = encode.loads(data[:length])
    except encode.DecodeError as exc:
        raise RequestError(400, "bad_tensor", f"Inference-Header-Content-Length {header_length!r}: the JSON header "
                           f"cannot be read ({exc}).") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise RequestError(400, "bad_tensor", 'Send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}.')
    offset = length
    for spec in request["inputs"]:
        params = spec.get("parameters") if isinstance(spec, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(data):
            raise RequestError(400, "bad_tensor", f"Input {spec.get('name')!r}: binary_data_size {size} runs past the body.")
        try:
            spec["data"] = unpack(spec.get("name"), spec.get("datatype"), data[offset:offset + size])
        except ProtocolError as exc:
            raise RequestError(400, "bad_tensor", str(exc)) from None
        offset += size
    if offset != len(data):
        raise RequestError(400, "bad_tensor", f"The body has {len(data) - offset} bytes past its inputs' "
                           "binary_data_size.")
    return request


def unpack(name: Any, datatype: Any, raw: bytes) -> list:
    """The elements of one tensor's little-endian bytes (the binary extension's, gRPC's raw contents)."""
    if datatype == "BYTES":
        out, i = [], 0
        while i < len(raw):
            if i + 4 > len(raw):
                raise ProtocolError(f"Input {name!r}: a BYTES element's length is cut off.")
            (n,) = struct.unpack_from("<I", raw, i)
            if i + 4 + n > len(raw):
                raise ProtocolError(f"Input {name!r}: a BYTES element of {n} bytes runs past binary_data_size.")
            try:
                out.append(raw[i + 4:i + 4 + n].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ProtocolError(f"Input {name!r}: a BYTES element is not UTF-8 text ({exc.reason} at byte "
                                    f"{exc.start}); this model takes text.") from None
            i += 4 + n
        return out
    code = _STRUCT.get(str(datatype))
    if code is None or len(raw) % struct.calcsize(code):
        raise ProtocolError(f"Input {name!r}: {len(raw)} bytes are not a whole number of {datatype} elements.")
    return list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))


def _binary_outputs(request: dict) -> bool:
    """Whether the answer's tensor is binary: its own `binary_data`, else the request's `binary_data_output`."""
    if not isinstance(request, dict):
        return False  # not a request at all: predicted() says what one looks like
    params = request.get("parameters") if isinstance(request.get("parameters"), dict) else {}
    binary = params.get("binary_data_output") is True
    asked = request.get("outputs")
    if asked is None:
        return binary
    if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
        raise ProtocolError('Send "outputs" as [{"name": "prediction", "parameters"?: {"binary_data": true}}].')
    for output in asked:
        known_output(output.get("name"))
        own = output.get("parameters", {}).get("binary_data") if isinstance(output.get("parameters"), dict) else None
        if isinstance(own, bool):
            binary = own
    return binary


def known_output(name: Any) -> None:
    """A requested output the model has (its one output, "prediction"), else ProtocolError."""
    if name != OUTPUT:
        raise ProtocolError(f"Output {name!r} is not one of this model's outputs: {OUTPUT!r}.")


def _pack(tensor: dict[str, Any]) -> bytes:
    """An output tensor's data as the binary extension carries it; the tensor keeps its size only."""
    raw = pack(tensor["datatype"], tensor.pop("data"))
    tensor["parameters"] = {**tensor.get("parameters", {}), "binary_data_size": len(raw)}
    return raw


def pack(datatype: str, data: list) -> bytes:
    """A tensor's elements as little-endian bytes (BYTES: each with its 4-byte length)."""
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(b)) + b for b in (str(v).encode() for v in data))
    return struct.pack(f"<{len(data)}{_STRUCT[datatype]}", *data)


def samples(request: Any, input_schema: Any = None) -> list:
    """The samples an inference request carries."""
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise ProtocolError('Send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}.')
    tensors = [_tensor(t) for t in request["inputs"]]
    properties = input_schema.get("properties", {}) if isinstance(input_schema, dict) else {}
    keyed = len(tensors) > 1 or (properties and tensors[0][0] in properties)
    if not keyed:
        return tensors[0][1]
    counts = {name: len(rows) for name, rows in tensors}
    if len(set(counts.values())) != 1:
        raise ProtocolError(f"Named inputs must have the same first dimension; got {counts}.")
    return [{name: rows[i] for name, rows in tensors} for i in range(len(tensors[0][1]))]


def _tensor(spec: Any) -> tuple[str, list]:
    if not isinstance(spec, dict):
        raise ProtocolError("Each input must be an object with name, shape, datatype and data.")
    name, shape, datatype, data = (spec.get(k) for k in ("name", "shape", "datatype", "data"))
    if not isinstance(name, str) or not name:
        raise ProtocolError("An input has no name.")
    if (not isinstance(shape, list) or not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                            for d in shape)):
        raise ProtocolError(f"Input {name!r}: shape must be a list of non-negative integers, [N, ...].")
    if datatype not in NUMERIC and datatype != "BYTES":
        raise ProtocolError(f"Input {name!r}: datatype {datatype!r} is not one of {', '.join(sorted(NUMERIC))}, BYTES.")
    flat = _flatten(data)
    if len(flat) != math.prod(shape):
        raise ProtocolError(f"Input {name!r}: shape {shape} holds {math.prod(shape)} elements, data has {len(flat)}.")
    params = spec.get("parameters") if isinstance(spec.get("parameters"), dict) else {}
    flat = [_element(name, datatype, v, str(params.get("content_type", ""))) for v in flat]
    return name, _rows(flat, shape)


def _flatten(data: Any) -> list:
    if not isinstance(data, list):
        return [data]
    out: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _element(name: str, datatype: str, value: Any, content_type: str) -> Any:
    if datatype == "BYTES":
        if not isinstance(value, str):
            raise ProtocolError(f"Input {name!r}: BYTES elements are strings; got {encode.dumps(value).decode()}.")
        if content_type in ("application/json", "json"):
            try:
                return encode.loads(value.encode())
            except encode.DecodeError as exc:
                raise ProtocolError(f"Input {name!r}: an element is not JSON ({exc}).") from None
        return value
    if datatype == "BOOL":
        if not isinstance(value, bool):
            raise ProtocolError(f"Input {name!r}: BOOL elements are true or false.")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"Input {name!r}: {datatype} elements are numbers; got {encode.dumps(value).decode()}.")
    if datatype.startswith(("INT", "UINT")) and value != int(value):
        raise ProtocolError(f"Input {name!r}: {datatype} elements are whole numbers; got {value}.")
    return int(value) if datatype.startswith(("INT", "UINT")) else float(value)


def _rows(flat: list, shape: list[int]) -> list:
    """Row-major flat data as nested lists of shape, then split along the first dimension."""
    nested: Any = flat
    for size in reversed(shape[1:]):
        nested = [nested[i:i + size] for i in range(0, len(nested), size)] if size else [[] for _ in range(len(nested))]
    return nested


def outputs(predictions: list) -> list[dict[str, Any]]:
    """One output tensor for N predictions."""
    n = len(predictions)
    if n and all(_number(p) for p in predictions):
        return [{"name": OUTPUT, "shape": [n], "datatype": _datatype(predictions), "data": predictions}]
    if n and all(isinstance(p, list) and p and all(_number(v) for v in p) for p in predictions) \
            and len({len(p) for p in predictions}) == 1:
        flat = [v for p in predictions for v in p]
        return [{"name": OUTPUT, "shape": [n, len(predictions[0])], "datatype": _datatype(flat), "data": flat}]
    return [{"name": OUTPUT, "shape": [n], "datatype": "BYTES", "parameters": {"content_type": "application/json"},
             "data": [encode.dumps(p).decode() for p in predictions]}]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and (isinstance(value, bool) or math.isfinite(value))


def _datatype(values: list) -> str:
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    return "FP64"


def model_metadata(name: str, metadata: Mapping[str, Any], schema: Any = None) -> dict[str, Any]:
    """Inputs as the model takes them: the properties of an object sample schema (given or
    derived from the example), else one input shaped like the example."""
    example = metadata.get("example")
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties")
    # the type the schema checks elements against wins over the example's: [5, 2] checked as numbers is FP64
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    if properties:
        inputs = [{"name": key, "datatype": _JSON_TYPES.get(prop.get("type") if isinstance(prop, dict) else "", "BYTES"),
                   "shape": [-1]} for key, prop in properties.items()]
    elif isinstance(example, list) and example and all(_number(v) for v in example):
        inputs = [{"name": "input", "datatype": _JSON_TYPES.get(items.get("type"), _datatype(example)),
                   "shape": [-1, len(example)]}]
    elif _number(example):
        inputs = [{"name": "input", "datatype": _JSON_TYPES.get(schema.get("type"), _datatype([example])), "shape": [-1]}]
    else:
        inputs = [{"name": "input", "datatype": "BYTES", "shape": [-1], "parameters": {"content_type": "application/json"}}]
    return {"name": name, "versions": [str(metadata.get("build_id", "1"))], "platform": "nbs2i",
            "inputs": inputs, "outputs": [_output_metadata(metadata)]}


def _output_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The output as the example's answer in the build came out (BYTES of JSON when there was none)."""
    if META_EXAMPLE_PREDICTION not in metadata:
        return {"name": OUTPUT, "datatype": "BYTES", "shape": [-1], "parameters": {"content_type": "application/json"}}
    tensor = outputs([metadata[META_EXAMPLE_PREDICTION]])[0]
    shown = {"name": OUTPUT, "datatype": tensor["datatype"], "shape": [-1, *tensor["shape"][1:]]}
    return {**shown, "parameters": tensor["parameters"]} if "parameters" in tensor else shown
