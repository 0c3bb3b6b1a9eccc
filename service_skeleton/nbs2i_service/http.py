"""Request plumbing: JSON bodies, request ids, bearer tokens, error responses."""
from __future__ import annotations

import hmac
import re
import uuid
from typing import Any

from flask import Response, request

from . import encode
from .errors import RequestError

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id() -> str:
    """The client's X-Request-ID when it is a sane token, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    return given if _SAFE_ID.match(given) else uuid.uuid4().hex


def json_body() -> Any:
    """The decoded JSON body, or a RequestError (415 not JSON, 400 malformed, 413 via Werkzeug)."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise RequestError(415, "unsupported_media_type",
                           f"Send the sample as JSON with 'Content-Type: application/json' (got {mimetype or 'none'}).")
    data = request.get_data(cache=False)
    if not data.strip():
        raise RequestError(400, "malformed_json", "The request body is empty; send one JSON value.")
    try:
        return encode.loads(data)
    except encode.DecodeError as exc:
        raise RequestError(400, "malformed_json", f"The request body is not valid JSON: {exc}.") from None


def check_token(expected: str | None) -> None:
    """Raise 401 unless the request carries `Authorization: Bearer <expected>` (when one is set)."""
    if expected is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise RequestError(401, "unauthorized", "Send 'Authorization: Bearer <token>' with the service's API token.")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(encode.dumps(body), status=status, mimetype="application/json")


def error_response(status: int, code: str, message: str, rid: str, details: Any = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": rid}
    if details is not None:
        error["details"] = details
    response = json_response({"error": error}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response
