"""Prometheus metrics shared by every gunicorn worker, with no per-request disk I/O.

The counters live in one anonymous shared memory map made before gunicorn forks (the app
is preloaded), so every worker, and every worker that replaces a dead one, adds to the
same numbers. Label sets are fixed (known endpoints x known statuses), so the layout is
a flat array of doubles guarded by one process-shared lock.
"""
from __future__ import annotations

import mmap
import multiprocessing
import struct
from typing import Iterable

# Every status the service answers with, the worker's refusals (408, 413, 414, 431, 501, 504 ...) included.
STATUSES = (200, 400, 401, 403, 404, 405, 408, 413, 414, 415, 417, 422, 431, 500, 501, 503, 504)
# Latency buckets in seconds: Prometheus client's defaults, plus 1 ms and 2.5 ms because a
# small model answers in a few milliseconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Adaptive batching (batching.py): samples per batch_predictor call, and how long the batch gathered.
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
BATCH_WAITS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025)
PAYLOAD_OUTCOMES = ("sent", "dropped", "failed")  # payloads.py: what became of each payload-log event
_DOUBLE = struct.calcsize("d")


class Metrics:
    def __init__(self, endpoints: Iterable[str], model_name: str, build_id: str):
        self.endpoints = tuple(endpoints) + ("other",)
        self.statuses = STATUSES + ("other",)
        self.model_name, self.build_id = model_name, build_id
        n_e, n_s, n_b = len(self.endpoints), len(self.statuses), len(BUCKETS) + 1
        self._requests = 0
        self._buckets = n_e * n_s
        self._sum = self._buckets + n_e * n_b
        self._count = self._sum + n_e
        self._predictions = self._count + n_e
        self._errors = self._predictions + 1
        self._fallbacks = self._errors + 1
        self._payloads = self._fallbacks + 1
        self._batch_sizes = self._payloads + len(PAYLOAD_OUTCOMES)  # buckets, then sum and count
        self._batch_waits = self._batch_sizes + len(BATCH_SIZES) + 3
        size = (self._batch_waits + len(BATCH_WAITS) + 3) * _DOUBLE
        self._map = mmap.mmap(-1, size)  # anonymous and MAP_SHARED: shared across fork
        self._values = memoryview(self._map).cast("d")
        self._lock = multiprocessing.Lock()
        self._e = {name: i for i, name in enumerate(self.endpoints)}
        self._s = {status: i for i, status in enumerate(self.statuses)}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        e = self._e.get(endpoint, len(self.endpoints) - 1)
        s = self._s.get(status, len(self.statuses) - 1)
        b = next((i for i, le in enumerate(BUCKETS) if seconds <= le), len(BUCKETS))
        with self._lock:
            v = self._values
            v[self._requests + e * len(self.statuses) + s] += 1
            v[self._buckets + e * (len(BUCKETS) + 1) + b] += 1
            v[self._sum + e] += seconds
            v[self._count + e] += 1

    def predicted(self, count: int = 1, failed: bool = False) -> None:
        with self._lock:
            self._values[self._errors if failed else self._predictions] += count

    def fell_back(self, samples: int) -> None:
        """batch_predictor failed on a batch of samples, which predictor then scored one by one."""
        with self._lock:
            self._values[self._fallbacks] += 1

    def payload(self, outcome: str) -> None:
        with self._lock:
            self._values[self._payloads + PAYLOAD_OUTCOMES.index(outcome)] += 1

    def batched(self, size: int, waited: float) -> None:
        with self._lock:
            _add(self._values, self._batch_sizes, BATCH_SIZES, size)
            _add(self._values, self._batch_waits, BATCH_WAITS, waited)

    def render(self) -> str:
        """The Prometheus text exposition format, version 0.0.4."""
        with self._lock:
            v = list(self._values)
        lines = ["# HELP nbs2i_requests_total HTTP requests by endpoint and status.",
                 "# TYPE nbs2i_requests_total counter"]
        for e, endpoint in enumerate(self.endpoints):
            for s, status in enumerate(self.statuses):
                value = v[self._requests + e * len(self.statuses) + s]
                if value:
                    lines.append(f'nbs2i_requests_total{{endpoint="{endpoint}",status="{status}"}} {_number(value)}')
        lines += ["# HELP nbs2i_request_duration_seconds Time to answer a request.",
                  "# TYPE nbs2i_request_duration_seconds histogram"]
        for e, endpoint in enumerate(self.endpoints):
            count = v[self._count + e]
            if not count:
                continue
            running = 0.0
            for b, le in enumerate(BUCKETS + (float("inf"),)):
                running += v[self._buckets + e * (len(BUCKETS) + 1) + b]
                bound = "+Inf" if le == float("inf") else f"{le:g}"
                lines.append(f'nbs2i_request_duration_seconds_bucket{{endpoint="{endpoint}",le="{bound}"}} {_number(running)}')
            lines.append(f'nbs2i_request_duration_seconds_sum{{endpoint="{endpoint}"}} {v[self._sum + e]:.6f}')
            lines.append(f'nbs2i_request_duration_seconds_count{{endpoint="{endpoint}"}} {_number(count)}')
        lines += ["# HELP nbs2i_predictions_total Samples scored.", "# TYPE nbs2i_predictions_total counter",
                  f"nbs2i_predictions_total {_number(v[self._predictions])}",
                  "# HELP nbs2i_prediction_errors_total Predictor calls that raised.",
                  "# TYPE nbs2i_prediction_errors_total counter",
                  f"nbs2i_prediction_errors_total {_number(v[self._errors])}",
                  "# HELP nbs2i_batch_fallbacks_total Batches batch_predictor failed on, scored again one by one.",
                  "# TYPE nbs2i_batch_fallbacks_total counter",
                  f"nbs2i_batch_fallbacks_total {_number(v[self._fallbacks])}",
                  "# HELP nbs2i_payload_log_events_total Payload-log events (NBS2I_LOG_URL) by what became of them.",
                  "# TYPE nbs2i_payload_log_events_total counter",
                  *(f'nbs2i_payload_log_events_total{{outcome="{o}"}} {_number(v[self._payloads + i])}'
                    for i, o in enumerate(PAYLOAD_OUTCOMES)),
                  "# HELP nbs2i_model_info The model this service serves.", "# TYPE nbs2i_model_info gauge",
                  f'nbs2i_model_info{{model="{label(self.model_name)}",build_id="{label(self.build_id)}"}} 1']
        lines += _histogram(v, self._batch_sizes, BATCH_SIZES, "nbs2i_batch_size",
                            "Samples per batch_predictor call that scored requests gathered from concurrent /predict requests.")
        lines += _histogram(v, self._batch_waits, BATCH_WAITS, "nbs2i_batch_wait_seconds",
                            "Time a batch spent gathering before it was scored.")
        return "\n".join(lines) + "\n"


def _add(values: memoryview, start: int, bounds: tuple, observed: float) -> None:
    """One observation into a histogram laid out as [bucket..., +Inf, sum, count]."""
    values[start + next((i for i, le in enumerate(bounds) if observed <= le), len(bounds))] += 1
    values[start + len(bounds) + 1] += observed
    values[start + len(bounds) + 2] += 1


def _histogram(values: list, start: int, bounds: tuple, name: str, help_text: str) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    running = 0.0
    for i, le in enumerate(bounds + (float("inf"),)):
        running += values[start + i]
        lines.append(f'{name}_bucket{{le="{"+Inf" if i == len(bounds) else f"{le:g}"}"}} {_number(running)}')
    lines.append(f"{name}_sum {_number(values[start + len(bounds) + 1])}")
    lines.append(f"{name}_count {_number(values[start + len(bounds) + 2])}")
    return lines


def _number(value: float) -> str:
    """Exact: integers as integers (1234567, never 1.23457e+06), other values as repr."""
    return str(int(value)) if value.is_integer() else repr(value)


def label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
