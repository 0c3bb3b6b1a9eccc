"""Models made in memory for the service's unit tests (no build needed)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from nbs2i_service import artifact, contract
from nbs2i_service.app import create_app
from nbs2i_service.config import load_config
from nbs2i_service.model import Model
from werkzeug.test import Client, TestResponse


def predictor(sample):
    if sample.get("boom"):
        raise RuntimeError("secret internal detail")
    if sample.get("nan"):
        return [math.nan, math.inf, 1.5]
    if sample.get("object"):
        return object()
    return sample["x"] * 2


def validator(sample):
    if isinstance(sample, dict) and sample.get("explode"):
        raise ValueError("x must be a number")
    return isinstance(sample, dict) and "x" in sample


def batch_predictor(samples):
    if any(s.get("boom") for s in samples):
        raise RuntimeError("one bad sample spoils the batch")
    return [s["x"] * 2 for s in samples]


SCHEMA = {"type": "object", "properties": {"x": {"type": "number"}, "boom": {"type": "boolean"},
                                           "nan": {"type": "boolean"}, "object": {"type": "boolean"},
                                           "explode": {"type": "boolean"}}, "required": ["x"]}
METADATA = {contract.META_MODEL_NAME: "doubler", contract.META_BUILD_ID: "b1", contract.META_EXAMPLE: {"x": 2},
            contract.META_INPUT_SCHEMA: SCHEMA}


def model(with_schema: bool = True, batch: bool = False) -> Model:
    meta = dict(METADATA)
    if not with_schema:
        meta.pop(contract.META_INPUT_SCHEMA)
    objects = {"predictor": predictor, "validator": validator}
    if batch:
        objects["batch_predictor"] = batch_predictor
    return Model(objects, meta)


def serve(app):
    """A test client of app: create_app()'s front, the WSGI application gunicorn serves (wsgi.py)."""
    return Client(app, TestResponse)


def client(env: dict | None = None, **kw):
    return serve(create_app(model(**kw), load_config(env or {})))


def write_model_dir(directory: Path) -> Path:
    """A model folder as the build writes it: artifact + metadata with its sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    data = artifact.dumps({"predictor": lambda s: s["x"] + 1})
    meta = {contract.META_MODEL_NAME: "plus1", contract.META_ARTIFACT_SHA256: artifact.sha256_hex(data),
            contract.META_PYTHON: "%d.%d.0" % __import__("sys").version_info[:2]}
    (directory / contract.ARTIFACT_FILE).write_bytes(data)
    (directory / contract.METADATA_FILE).write_text(json.dumps(meta))
    return directory
