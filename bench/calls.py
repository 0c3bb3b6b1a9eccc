"""A load generator that speaks gRPC as well as HTTP: for ModelInfer against REST V2 with the same
client. wrk speaks only HTTP/1.1 and ghz, gRPC's usual one, is not packaged for Debian; so both
protocols are driven here, from Python, the same way: `concurrency` connections (a channel each,
with its own subchannel, as wrk opens a connection each), split over two processes, each call
sent as prepared bytes and its answer left unparsed, so the client costs as little as it can.

    python -m bench.calls grpc 127.0.0.1:8081 /inference.GRPCInferenceService/ModelInfer BASE64 8 5
    python -m bench.calls http 127.0.0.1:8080 /v2/models/m/infer BASE64 8 5
"""
from __future__ import annotations

import base64
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time

from bench.load import Result

PROCESSES = 2


def run(kind: str, target: str, path: str, payload: bytes, concurrency: int, seconds: float) -> Result:
    """Calls per second and latency percentiles of `concurrency` connections for `seconds`."""
    encoded = base64.b64encode(payload).decode()
    split = [concurrency // PROCESSES + (1 if i < concurrency % PROCESSES else 0) for i in range(PROCESSES)]
    for warm in (True, False):
        procs = [subprocess.Popen([sys.executable, "-m", "bench.calls", kind, target, path, encoded, str(n),
                                   str(1 if warm else seconds)], stdout=subprocess.PIPE, text=True)
                 for n in split if n]
        found = [json.loads(p.communicate()[0]) for p in procs]
    latencies = sorted(ms for part in found for ms in part["ms"])
    errors = sum(part["errors"] for part in found)
    if not latencies:
        return Result(0.0, 0.0, 0.0, errors)
    return Result(len(latencies) / seconds, statistics.median(latencies),
                  latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], errors)


def _grpc_caller(target: str, path: str):
    import grpc

    channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
    call = channel.unary_unary(path)  # bytes in, bytes out: nothing parsed on the client

    def once(payload: bytes) -> None:
        call(payload, timeout=10)
    return once


def _http_caller(target: str, path: str):
    host, port = target.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}

    def once(payload: bytes) -> None:
        connection.request("POST", path, payload, headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(answer.status)
    return once


def _worker(kind: str, target: str, path: str, payload: bytes, concurrency: int, seconds: float) -> dict:
    found: dict = {"ms": [], "errors": 0}
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def loop() -> None:
        once = (_grpc_caller if kind == "grpc" else _http_caller)(target, path)
        mine, errors = [], 0
        while True:
            started = time.perf_counter()
            if started >= end:
                break
            try:
                once(payload)
            except Exception:  # noqa: BLE001 - counted, as wrk counts non-2xx answers
                errors += 1
                continue
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            found["ms"] += mine
            found["errors"] += errors

    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


if __name__ == "__main__":
    kind, target, path, encoded, concurrency, seconds = sys.argv[1:7]
    print(json.dumps(_worker(kind, target, path, base64.b64decode(encoded), int(concurrency), float(seconds))))
