"""The stream worker: scores samples from a Redis stream through a consumer group.

Each batch is read with XREADGROUP; predictions go to the output stream, rejected or
failing samples to the dead-letter stream with the reason, and the batch is acknowledged
in the same MULTI/EXEC transaction as those writes. A worker killed mid-batch leaves its
batch unacknowledged; it is read again by the restarted worker (its own pending entries)
or claimed by another one after NBS2I_STREAM_CLAIM_IDLE_MS. Every sample thus gets exactly
one output or dead-letter entry, carrying the input entry's id.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from . import encode
from .config import Config, ConfigError, load_config
from .contract import META_BUILD_ID, served_model_dir
from .drift import for_model
from .errors import REFUSED, ModelLoadError
from .metrics import Metrics
from .model import Model, SampleRejected, load_model

log = logging.getLogger("nbs2i.stream")


class Worker:
    def __init__(self, model: Model, config: Config, client: Any, metrics: Metrics):
        self.model, self.config, self.redis, self.metrics = model, config, client, metrics
        self.drift, _ = for_model(model, config)
        self.consumer = config.stream_consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.stopping = threading.Event()
        self.ready = False

    def ensure_group(self) -> None:
        import redis

        try:  # from the stream's start, so samples sent before the first worker are scored
            self.redis.xgroup_create(self.config.stream_in, self.config.stream_group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self) -> None:
        self.ensure_group()
        self.ready = True
        c = self.config
        while not self.stopping.is_set():  # first what this consumer read but never acknowledged
            mine = self.redis.xreadgroup(c.stream_group, self.consumer, {c.stream_in: "0"}, count=c.stream_batch)
            entries = mine[0][1] if mine else []
            if not entries:
                break
            self.handle(entries)
        while not self.stopping.is_set():
            _, claimed, *_ = self.redis.xautoclaim(c.stream_in, c.stream_group, self.consumer,
                                                   c.stream_claim_idle_ms, "0-0", count=c.stream_batch)
            if claimed:
                self.handle(claimed)
                continue
            new = self.redis.xreadgroup(c.stream_group, self.consumer, {c.stream_in: ">"}, count=c.stream_batch,
                                        block=c.stream_block_ms)
            if new:
                self.handle(new[0][1])

    def handle(self, entries: list) -> None:
        started = time.perf_counter()
        outputs, dead, valid = [], [], []
        for entry_id, fields in entries:
            raw = (fields or {}).get(b"sample")
            if raw is None:
                dead.append((entry_id, raw, "missing: the entry has no 'sample' field (or was trimmed)"))
                continue
            try:
                sample = encode.loads(raw)
                self.model.check(sample)
                valid.append((entry_id, raw, sample))
            except encode.DecodeError as exc:
                dead.append((entry_id, raw, f"malformed_json: {exc}"))
            except SampleRejected as exc:
                dead.append((entry_id, raw, f"rejected: {exc.message}"))
        results = self.model.score([s for _, _, s in valid], self.metrics.fell_back)
        if self.drift:
            self.drift.observe([s for _, _, s in valid], results, [not isinstance(r, Exception) for r in results])
        for (entry_id, raw, _), result in zip(valid, results):
            if isinstance(result, Exception):
                self.metrics.predicted(failed=True)
                dead.append((entry_id, raw, f"prediction_failed: {type(result).__name__}: {result}"))
            else:
                outputs.append((entry_id, result))
        self._commit(entries, outputs, dead)
        elapsed = (time.perf_counter() - started) / max(len(entries), 1)
        for _ in outputs:
            self.metrics.observe("stream", 200, elapsed)
        for _ in dead:
            self.metrics.observe("stream", 422, elapsed)
        self.metrics.predicted(len(outputs))

    def _commit(self, entries: list, outputs: list, dead: list) -> None:
        """Outputs, dead letters and the acknowledgement in one transaction: all or nothing."""
        c = self.config
        pipe = self.redis.pipeline(transaction=True)
        for entry_id, prediction in outputs:
            try:
                body = encode.dumps(prediction)
            except TypeError as exc:
                pipe.xadd(c.stream_dead, {"id": entry_id, "reason": f"unencodable_prediction: {exc}"})
                continue
            pipe.xadd(c.stream_out, {"id": entry_id, "prediction": body})
        for entry_id, raw, reason in dead:
            pipe.xadd(c.stream_dead, {"id": entry_id, "sample": raw or b"", "reason": reason})
        pipe.xack(c.stream_in, c.stream_group, *[entry_id for entry_id, _ in entries])
        pipe.execute()


def _probe_app(worker: Worker, metrics: Metrics):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in ("/health/live", "/v2/health/live"):
            status, body = "200 OK", b'{"status":"alive"}'
        elif path in ("/health/ready", "/v2/health/ready"):
            ok = worker.ready and _ping(worker.redis)
            status, body = ("200 OK", b'{"status":"ready"}') if ok else ("503 Service Unavailable", b'{"status":"not ready"}')
        elif path == "/metrics":
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4")])
            drift = "\n".join(worker.drift.render()) + "\n" if worker.drift else ""
            return [(metrics.render() + drift).encode()]
        else:
            status, body = "404 Not Found", b'{"error":{"code":"not_found","message":"probes: /health/live, /health/ready, /metrics"}}'
        start_response(status, [("Content-Type", "application/json")])
        return [body]
    return app


def _ping(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # probes every few seconds would flood the log
        pass


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    try:
        config = load_config()
        model = load_model(served_model_dir(config.model_dir), config.verify_key_file,
                           verify_chain=config.verify_chain_file)
    except (ModelLoadError, ConfigError) as exc:
        log.critical("refusing to start: %s", exc)
        return REFUSED
    import redis

    client = redis.Redis.from_url(config.redis_url)
    metrics = Metrics(["stream"], model.name, str(model.metadata.get(META_BUILD_ID, "")))
    worker = Worker(model, config, client, metrics)
    server = make_server(config.host, config.port, _probe_app(worker, metrics), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    log.info("consumer %s: %s -> %s (dead letters: %s), group %s", worker.consumer, config.stream_in,
             config.stream_out, config.stream_dead, config.stream_group)
    worker.run()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
