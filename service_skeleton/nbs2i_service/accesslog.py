"""The access log: one JSON object per request, built with a JSON encoder.

gunicorn's access_log_format pastes values into a template: a percent-decoded path with a
newline in it (`GET /x%0a...`) started a forged log line, and quotes or backslashes broke
the record's JSON. Here every field is encoded (control characters escaped, non-ASCII as
\\u escapes), so no byte a client sends can end a record or start another.
"""
from __future__ import annotations

import json
import time

from gunicorn.glogging import Logger


class JsonAccessLogger(Logger):
    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        headers = dict(resp.headers) if isinstance(getattr(resp, "headers", None), list) else {}
        status = str(getattr(resp, "status", "") or "").split(" ", 1)[0]
        self.record(environ.get("REMOTE_ADDR", "-"), environ.get("REQUEST_METHOD", "-"),
                    environ.get("RAW_URI") or environ.get("PATH_INFO", ""), int(status) if status.isdigit() else status,
                    getattr(resp, "sent", None), request_time.seconds * 1_000_000 + request_time.microseconds,
                    headers.get("X-Request-ID", "-"))

    def record(self, remote: str, method: str, path: str, status: object, sent: int | None, duration_us: int,
               request_id: str) -> None:
        """One line of the access log: for what the app answered (access) and what the worker refused."""
        if not self.access_log_enabled:
            return
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "remote": remote, "method": method, "path": path,
                  "status": status, "bytes": sent, "duration_us": duration_us, "request_id": request_id}
        try:
            self.access_log.info(json.dumps(record, ensure_ascii=True))
        except Exception:
            self.exception("writing the access log")
