"""The model artifact: cloudpickled notebook functions and their sha256.

The build writes it (inside the model's venv, see builder/runner.py); the loader reads
it back only after the hash matches metadata.json (and, with a key, the folder's signature
verifies: signature.py).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Mapping

import cloudpickle

from .contract import META_ARTIFACT_SHA256
from .errors import ModelLoadError


def dumps(objects: Mapping[str, Any]) -> bytes:
    """Serialize the notebook's callables by value, so closures and their objects travel."""
    return cloudpickle.dumps(dict(objects))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, metadata: Mapping[str, Any], where: str) -> None:
    """Raise ModelLoadError unless data is the artifact metadata describes."""
    expected = metadata.get(META_ARTIFACT_SHA256)
    actual = sha256_hex(data)
    if not isinstance(expected, str) or not hmac.compare_digest(expected, actual):
        raise ModelLoadError(
            f"{where}: the artifact's sha256 is {actual} but metadata.json records {expected}. "
            "The model was changed after the build; rebuild it with `nbs2i build`."
        )


def loads(data: bytes) -> dict[str, Any]:
    """Unpickle a verified artifact. Call verify() first: never load unchecked bytes."""
    objects = cloudpickle.loads(data)
    if not isinstance(objects, dict):
        raise ModelLoadError("The artifact does not hold the notebook's functions; rebuild the model.")
    return objects
