"""`nbs2i drift OUT --input FILE [--json]`: the drift of a file of samples against the training data.

FILE is JSON Lines: samples as /predict takes them, or payload-log events (payloads.py) as a
CloudEvents sink or the Redis stream keeps them: {"type": "org.kubeflow.serving.inference.request",
"id", "endpoint", "data"} and the matching responses. Samples are checked as the service checks
them (a rejected one stays out); their predictions are the logged responses', or, for plain
samples, the model's own (it is loaded, verified, in OUT/venv). The window is the whole file.
Prints the table the page shows, or the /drift document with --json.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Iterator

from . import encode, v2
from .config import load_config
from .drift import Drift
from .errors import ServiceError
from .model import Model, SampleRejected, load_model
from .payloads import REQUEST_TYPE, RESPONSE_TYPE


def _data(event: dict) -> Any:
    data = event.get("data")
    return encode.loads(data.encode() if isinstance(data, str) else data) if isinstance(data, (str, bytes)) else data


def _from_event(endpoint: Any, body: Any, schema: Any) -> list:
    """The samples of a logged request body, as the endpoint it went to reads them."""
    if endpoint == "predict":
        return [body]
    if endpoint == "v2_infer":
        return v2.samples(body, schema)
    return list(body.get("instances", [])) if isinstance(body, dict) else []


def _answers(endpoint: Any, body: Any) -> list | None:
    if not isinstance(body, dict) or "error" in body:
        return None
    if endpoint == "predict":
        return [body.get("prediction")]
    if endpoint == "v2_infer":
        outputs = body.get("outputs") or [{}]
        data = outputs[0].get("data", [])
        shape = outputs[0].get("shape", [len(data)])
        width = len(data) // max(shape[0], 1) if len(shape) > 1 else 1
        return data if width == 1 else [data[i:i + width] for i in range(0, len(data), width)]
    return body.get("predictions")


def read(lines: Iterator[str], model: Model) -> tuple[list, list, list[bool]]:
    """(samples, predictions, scored) of the file's samples the model accepts; plain ones scored by it."""
    samples: list = []
    requests: dict[str, list[int]] = {}
    answered: dict[str, list] = {}
    plain: list[int] = []

    def accept(sample: Any) -> bool:
        try:
            model.check(sample)
        except SampleRejected:
            return False
        samples.append(sample)
        return True

    for line in lines:
        try:
            value = encode.loads(line.encode()) if line.strip() else None
            event = isinstance(value, dict) and value.get("type") in (REQUEST_TYPE, RESPONSE_TYPE) and "data" in value
            if event and value["type"] == RESPONSE_TYPE:
                answered[str(value.get("id"))] = _answers(value.get("endpoint"), _data(value)) or []
            elif event:
                for sample in _from_event(value.get("endpoint"), _data(value), model.sample_schema):
                    index = len(samples)
                    requests.setdefault(str(value.get("id")), []).append(index if accept(sample) else -1)
            elif line.strip() and accept(value):
                plain.append(len(samples) - 1)
        except (encode.DecodeError, v2.ProtocolError):
            continue  # a line the service would have refused
    predictions: list = [None] * len(samples)
    scored = [False] * len(samples)
    for rid, indices in requests.items():
        for i, answer in zip(indices, answered.get(rid, [])):
            if i >= 0:
                predictions[i], scored[i] = answer, True
    for i, result in zip(plain, model.score([samples[i] for i in plain])):
        if not isinstance(result, Exception):
            predictions[i], scored[i] = encode.to_jsonable(result), True
    return samples, predictions, scored


def table(report: dict) -> str:
    lines = [f"{report['window']['samples']:,} samples against {report['reference']['rows']:,} rows of "
             f"{report['reference']['variable']!r}; drifted above PSI {report['threshold']:g}: "
             f"{', '.join(report['drifted']) or 'none'}"]
    for feature in report["features"] + ([report["prediction"]] if report["prediction"] else []):
        lines.append(f"\n{feature['name']}  ({feature['kind']})  PSI {feature['psi']:.3f}"
                     + ("  DRIFTED" if feature["drifted"] else ""))
        for label, ref, win in zip(feature["bins"], feature["reference"], feature["window"]):
            if ref or win:
                lines.append(f"  {label:<28} training {ref:6.1%}   here {win:6.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbs2i drift")
    parser.add_argument("model_dir")
    parser.add_argument("--input", required=True, help="JSON Lines of samples or of payload-log events; - for stdin")
    parser.add_argument("--json", action="store_true", help="print the /drift document instead of the table")
    args = parser.parse_args(argv)
    config = load_config()
    try:
        model = load_model(args.model_dir, config.verify_key_file, config.infer_schema, config.verify_chain_file)
        if model.profile is None:
            raise ServiceError(f"{args.model_dir} has no reference profile: "
                               f"{model.metadata.get('reference_off', 'the build kept none')}.")
        source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    except (ServiceError, OSError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    with source:
        samples, predictions, scored = read(source, model)
    drift = Drift(model.profile, max(len(samples), 10), config.drift_threshold, model.name)
    drift.observe(samples, predictions, scored)
    report = drift.report()
    report["window"]["size"] = len(samples)
    print(encode.dumps(report).decode() if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
