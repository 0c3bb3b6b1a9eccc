"""Payload logging: each prediction request and its response, sent beside the answer.

As KServe's payload logger sends them: two CloudEvents 1.0 in binary HTTP mode sharing one id
(the request's X-Request-ID), of type org.kubeflow.serving.inference.request and .response,
the body as the event's data, so the sinks KServe users run (a Knative broker, KServe's
message dumper, a Kafka source) take them unchanged. NBS2I_LOG_URL=redis://... adds the same
events to a Redis stream instead (NBS2I_LOG_STREAM), one entry each, its fields the event's
attributes and `data`.

A side channel: the request only puts its events on a bounded queue of the worker
(NBS2I_LOG_QUEUE) and goes on; one sender per worker process (a greenlet under the gevent
worker, whose patching makes the thread one) sends them. A full queue drops the events; a
sink that is down, slow or refusing gets each event RETRIES more times, backing off, then
the event is dropped as failed. Each outcome is counted (nbs2i_payload_log_events_total),
and the log says so once a minute, never once per event.
"""
from __future__ import annotations

import datetime as dt
import http.client
import logging
import os
import queue
import random
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from .config import Config
from .logs import EveryMinute

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
BACKOFF_S = (0.2, 1.0, 5.0)  # waits before each retry of an event the sink refused
TIMEOUT_S = 5.0
_log = EveryMinute(logging.getLogger("nbs2i"))


class PayloadLog:
    def __init__(self, config: Config, model_name: str, count: Callable[[str], None]):
        self.url, self.mode, self.fraction = config.log_url, config.log_mode, config.log_sample
        self.stream, self.capacity, self.count = config.log_stream, config.log_queue, count
        self.model_name = model_name
        self.source = f"nbs2i://{socket.gethostname()}/models/{model_name}"
        self._queue: queue.Queue | None = None
        self._pid: int | None = None
        self._sink: Any = None

    def record(self, rid: str, endpoint: str, request: bytes, request_type: str, response: bytes,
               response_type: str) -> None:
        """The events of one prediction request; never blocks, never raises."""
        if self.fraction < 1 and random.random() >= self.fraction:
            return
        now = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        events = []
        if self.mode in ("all", "request"):
            events.append((self._attributes(REQUEST_TYPE, rid, now, endpoint, request_type), request))
        if self.mode in ("all", "response"):
            events.append((self._attributes(RESPONSE_TYPE, rid, now, endpoint, response_type), response))
        waiting = self._waiting()
        for event in events:
            try:
                waiting.put_nowait(event)
            except queue.Full:
                self.count("dropped")
                _log("payload log: the queue of %d events is full (the sink at %s is slower than the requests); "
                     "events are dropped and counted", self.capacity, self.url, level=logging.WARNING)

    def _attributes(self, kind: str, rid: str, now: str, endpoint: str, content_type: str) -> dict[str, str]:
        return {"specversion": "1.0", "type": kind, "source": self.source, "id": rid, "time": now,
                "datacontenttype": content_type, "inferenceservicename": self.model_name, "endpoint": endpoint}

    def _waiting(self) -> queue.Queue:
        """This process's queue and sender, started on first use (after gunicorn's fork)."""
        if self._pid != os.getpid():
            self._pid, self._queue, self._sink = os.getpid(), queue.Queue(self.capacity), None
            threading.Thread(target=self._send_all, name="nbs2i-payload-log", daemon=True).start()
        return self._queue  # type: ignore[return-value]

    def _send_all(self) -> None:
        waiting = self._queue
        while True:
            event = waiting.get()
            for attempt in range(len(BACKOFF_S) + 1):
                try:
                    self._send(*event)
                    self.count("sent")
                    break
                except Exception as exc:  # the sink's problem: retried, then counted
                    self._sink = None
                    if attempt == len(BACKOFF_S):
                        self.count("failed")
                        _log("payload log: %s did not take an event after %d tries (%s: %s); such events are "
                             "dropped and counted", self.url, attempt + 1, type(exc).__name__, exc,
                             level=logging.WARNING)
                    else:
                        time.sleep(BACKOFF_S[attempt])

    def _send(self, attributes: dict[str, str], data: bytes) -> None:
        if self.url.startswith(("redis://", "rediss://", "unix://")):
            if self._sink is None:
                import redis

                self._sink = redis.Redis.from_url(self.url, socket_timeout=TIMEOUT_S)
            self._sink.xadd(self.stream, {**attributes, "data": data}, maxlen=100_000, approximate=True)
            return
        parts = urlsplit(self.url)
        if self._sink is None:
            kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            self._sink = kind(parts.netloc, timeout=TIMEOUT_S)
        headers = {f"ce-{k}": v for k, v in attributes.items() if k != "datacontenttype"}
        headers["Content-Type"] = attributes["datacontenttype"]
        self._sink.request("POST", parts.path or "/", body=data, headers=headers)
        response = self._sink.getresponse()
        response.read()
        if response.status >= 300:
            raise OSError(f"HTTP {response.status} {response.reason}")
