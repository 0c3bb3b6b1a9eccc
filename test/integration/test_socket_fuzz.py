"""A socket-level fuzzer of our own against a real `nbs2i serve` (gunicorn, the gevent worker):
a few thousand hostile requests (JSON, framing, headers, paths) over raw sockets. Every
answer must be a JSON error or a success, never a 5xx but the predictor's own; no client
byte may start a line of the log; health must answer throughout."""
from __future__ import annotations

import json
import random
import re
import socket

import pytest

from test.helpers import Service, build_notebook, request

pytestmark = pytest.mark.slow

CELLS = ["def predictor(sample):\n    if sample == 'boom':\n        raise ValueError('boom')\n"
         "    return len(repr(sample)) % 97"]
REQUESTS = 2500
PATHS = ["/predict", "/predict/batch", "/v1/models/model:predict", "/v1/models/model", "/v2/models/model/infer",
         "/v2/models/model", "/metadata", "/health/ready", "/metrics", "/openapi.json", "/nope", "/predict/",
         "/y%0a2026-11-25%2000:00:00,000%20[1]%20[CRITICAL]%20nbs2i:%20refusing%20to%20start:%20forged", "/%0d%0aSet-Cookie:%20x=1",
         "/a%00b", "/%5C%5C..%5C", "/" + "x" * 9000, "/%ff%fe", "/v1/models/x%00"]
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "G\x00T", "POST ", "CONNECT"]


def _json_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 5)
    makers = [lambda: None, lambda: True, lambda: rng.randint(-2**70, 2**70), lambda: rng.uniform(-1e300, 1e300),
              lambda: "s\u2028\x00\"\\" * rng.randrange(3),
              lambda: [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))],
              lambda: {str(rng.random()): _json_value(rng, depth + 1) for _ in range(rng.randrange(4))},
              lambda: "boom", lambda: {"instances": [_json_value(rng, depth + 1) for _ in range(rng.randrange(5))]}]
    return makers[kind]()


def _body(rng: random.Random) -> bytes:
    choice = rng.randrange(8)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if choice == 1:
        return b"[" * 5000 + b"]" * 5000  # deeper than any parser allows
    if choice == 2:
        return b'{"x": NaN, "y": Infinity}'
    if choice == 3:
        return json.dumps(_json_value(rng)).encode()[: rng.randrange(1, 40)]  # truncated
    return json.dumps(_json_value(rng)).encode()


def _request(rng: random.Random) -> bytes:
    method, path = rng.choice(METHODS), rng.choice(PATHS)
    body = _body(rng)
    headers = [f"Host: fuzz", f"X-Request-ID: {rng.choice(['ok-1', 'bad id', 'x' * 300, 'a%0ab'])}"]
    headers.append("Content-Type: " + rng.choice(["application/json", "text/plain", "application/x+json", "", "\x7f"]))
    framing = rng.randrange(7)
    if framing == 0:
        headers.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == 1:
        headers.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7)) + b"0\r\n\r\n"
    elif framing == 2:
        headers.append("Transfer-Encoding: chunked")
        payload = b"zz\r\n" + body + b"\r\n0\r\n\r\n"  # a bad chunk size
    elif framing == 3:
        headers += [f"Content-Length: {len(body)}", f"Content-Length: {len(body) + 1}"]
        payload = body
    elif framing == 4:
        headers += [f"Content-Length: {len(body)}", "Transfer-Encoding: chunked"]
        payload = body
    elif framing == 5:
        headers.append(f"Content-Length: {len(body) + 5}")  # promises more than it sends
        payload = body
    else:
        headers += [f"X-Junk-{i}: {'v' * rng.randrange(50)}" for i in range(rng.randrange(0, 130, 20))]
        headers.append(f"Content-Length: {len(body)}")
        payload = body
    version = rng.choice(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTX/1.1"])
    head = f"{method} {path} {version}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    return head.encode("latin-1", errors="replace") + payload


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)  # no more: a promised body that never comes ends here
        except OSError:
            pass
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return data


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("fuzz"), *CELLS)


def test_hostile_requests_get_json_answers_and_no_5xx(out):
    rng = random.Random(20261125)
    answered = 0
    with Service(out, workers=2, NBS2I_MAX_REQUEST_BYTES="20000", NBS2I_CLIENT_TIMEOUT="3") as svc:
        for i in range(REQUESTS):
            raw = _request(rng)
            answer = _exchange(svc.port, raw)
            if not answer:
                continue  # the client closed before a request was whole: nobody to answer
            answered += 1
            head, _, body = answer.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split()[1])
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
            if status >= 400 and body:
                assert headers.get("content-type") == "application/json", (raw[:200], answer[:300])
                error = json.loads(body)["error"]
                code = error["code"] if isinstance(error, dict) else "v2"
                assert status < 500 or code == "prediction_failed", (raw[:300], answer[:500])
            assert status < 500 or b"prediction_failed" in body, (raw[:300], answer[:500])
            if raw.startswith(b"HEAD "):
                assert not body, (raw[:200], answer[:300])
            if i % 250 == 0:
                assert request(svc.url + "/health/ready", timeout=2)[0] == 200
        assert request(svc.url + "/health/ready", timeout=2)[0] == 200
        log = svc.output()
    assert answered > REQUESTS * 0.9
    records = []
    for line in log.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # every access record is whole JSON
        else:  # gunicorn's and nbs2i's own lines, never one a client wrote
            assert re.match(r"^(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] "
                            r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \[\d+\] \[[A-Z]+\] )", line), line
    # the forging path was logged inside one record, and no line of its own was forged from it
    assert not any("refusing to start" in line for line in log.splitlines() if not line.startswith("{"))
    assert any(r["path"].endswith("refusing%20to%20start:%20forged") for r in records)
