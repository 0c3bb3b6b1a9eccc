"""The service's exceptions: each message says what failed and how to fix it."""
from __future__ import annotations


class ServiceError(Exception):
    """Root of every error the service raises on purpose."""


class ModelLoadError(ServiceError):
    """The model in OUT/model cannot be loaded: missing, tampered, unsigned or broken."""


REFUSED = 3  # the exit code of every loader that refuses a model (serve, the stream worker, score, verify)


class RequestError(ServiceError):
    """A request the service refuses; carries the HTTP status and an error code."""

    def __init__(self, status: int, code: str, message: str, details: object = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
