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
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "remote": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD", "-"),
            "path": environ.get("RAW_URI") or environ.get("PATH_INFO", ""),
            "status": int(status) if status.isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_us": request_time.seconds * 1_000_000 + request_time.microseconds,
            "request_id": headers.get("X-Request-ID", "-"),
        }
        try:
            self.access_log.info(json.dumps(record, ensure_ascii=True))
        except Exception:
            self.exception("writing the access log")
