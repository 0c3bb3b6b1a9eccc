"""The model artifact: cloudpickled notebook functions, their sha256 and optional HMAC.

The build writes it (inside the model's venv, see builder/runner.py); the loader reads
it back only after the hash (and, with a key, the signature) match metadata.json.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Mapping

import cloudpickle

from .contract import META_ARTIFACT_SHA256, META_SIGNATURE
from .errors import ModelLoadError


def dumps(objects: Mapping[str, Any]) -> bytes:
    """Serialize the notebook's callables by value, so closures and their objects travel."""
    return cloudpickle.dumps(dict(objects))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign(data: bytes, key: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def verify(data: bytes, metadata: Mapping[str, Any], where: str, key: bytes | None = None) -> None:
    """Raise ModelLoadError unless data is the artifact metadata describes (and signed by key)."""
    expected = metadata.get(META_ARTIFACT_SHA256)
    actual = sha256_hex(data)
    if not isinstance(expected, str) or not hmac.compare_digest(expected, actual):
        raise ModelLoadError(
            f"{where}: the artifact's sha256 is {actual} but metadata.json records {expected}. "
            "The model was changed after the build; rebuild it with `nbs2i build`."
        )
    if key is None:
        return
    signature = metadata.get(META_SIGNATURE)
    if not isinstance(signature, str):
        raise ModelLoadError(
            f"{where}: NBS2I_SIGNING_KEY is set but the artifact is unsigned. "
            "Rebuild with the same NBS2I_SIGNING_KEY set, or unset it to serve unsigned models."
        )
    if not hmac.compare_digest(signature, sign(data, key)):
        raise ModelLoadError(
            f"{where}: the artifact's signature does not match NBS2I_SIGNING_KEY. "
            "Serve it with the key it was built with, or rebuild it with this key."
        )


def loads(data: bytes) -> dict[str, Any]:
    """Unpickle a verified artifact. Call verify() first: never load unchecked bytes."""
    objects = cloudpickle.loads(data)
    if not isinstance(objects, dict):
        raise ModelLoadError("The artifact does not hold the notebook's functions; rebuild the model.")
    return objects
