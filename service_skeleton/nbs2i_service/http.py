"""Request plumbing shared by the front (front.py), the gRPC front and the worker: JSON bodies,
bodies held to their limit, request ids, bearer tokens and the one JSON error document every
failure answers with."""
from __future__ import annotations

import hmac
import re
import socket
import uuid
from typing import Any, Callable

from . import encode
from .errors import RequestError

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
JSON = "application/json"
BODY_CHUNK = 64 * 1024


def request_id(given: str | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a new one."""
    return given if given and _SAFE_ID.match(given) else uuid.uuid4().hex


def mimetype(content_type: str | None) -> str:
    """'application/json' of 'Application/JSON; charset=utf-8'."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_json(media_type: str, data: bytes) -> Any:
    """The decoded JSON body, or a RequestError (415 not JSON, 400 empty or malformed)."""
    if media_type != JSON and not media_type.endswith("+json"):
        raise RequestError(415, "unsupported_media_type",
                           f"Send the sample as JSON with 'Content-Type: application/json' (got {media_type or 'none'}).")
    if not data.strip():
        raise RequestError(400, "malformed_json", "The request body is empty; send one JSON value.")
    try:
        return encode.loads(data)
    except encode.DecodeError as exc:
        raise RequestError(400, "malformed_json", f"The request body is not valid JSON: {exc}.") from None


def too_large(limit: int) -> RequestError:
    return RequestError(413, "request_entity_too_large",
                        f"The body is over the limit of {limit} bytes (NBS2I_MAX_REQUEST_BYTES).")


def declared_length(value: str | None) -> int | None:
    """A Content-Length header's value (None without one); the server has already refused a malformed one."""
    return int(value) if value and value.strip().isdigit() else None


def bounded_body(read: Callable[[int], bytes], declared: int | None, limit: int) -> bytes:
    """The whole body from read(n), held to limit whatever its framing: 413 for a Content-Length or
    a body over it (never a truncated body), 400 for one that ends before its Content-Length.
    The worker reads with it while a request arrives; the front with it when no worker did."""
    if declared is not None:  # the server frames the body: read(n) gives at most what is left of it
        if declared > limit:
            raise too_large(limit)
        data = read(declared)
        while len(data) < declared and (part := read(declared - len(data))):
            data += part
        if len(data) < declared:
            raise truncated(len(data), declared)
        return data
    parts, size = [], 0
    while part := read(BODY_CHUNK):
        size += len(part)
        if size > limit:
            raise too_large(limit)
        parts.append(part)
    return b"".join(parts)


def truncated(size: int, declared: int | None) -> RequestError:
    what = f"after {size} of the {declared} bytes its Content-Length announced" if declared is not None else \
        "before its last chunk"
    return RequestError(400, "truncated_body", f"The body ended {what}; send the whole body.")


def check_token(authorization: str | None, expected: str | None) -> None:
    """Raise 401 unless the Authorization header is `Bearer <expected>` (when a token is set)."""
    if expected is None:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise RequestError(401, "unauthorized", "Send 'Authorization: Bearer <token>' with the service's API token.")


def error_document(code: str, message: str, rid: str, details: Any = None) -> bytes:
    """The body of every error answer (docs/api.md): {"error": {code, message, request_id[, details]}}."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": rid}
    if details is not None:
        error["details"] = details
    return encode.dumps({"error": error})


def json_headers(status: int, rid: str, length: int) -> list[tuple[str, str]]:
    headers = [("Content-Type", JSON), ("Content-Length", str(length)), ("X-Request-ID", rid)]
    if status == 401:
        headers.append(("WWW-Authenticate", "Bearer"))
    return headers


def port_taken(host: str, port: int) -> str | None:
    """Why host:port cannot be bound by this process alone (another listens on it), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # no SO_REUSEPORT: any listener refuses it
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"{host}:{port} is in use ({exc.strerror}): another process listens there"
    return None
