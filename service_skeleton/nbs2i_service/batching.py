"""Adaptive batching: concurrent /predict samples in one worker scored by one batch_predictor call.

Only the gevent worker (the default) runs requests concurrently in one process, so only it
creates a Batcher (Front.gather, after fork). Each request checks its own sample first
(schema, validator: a rejected sample never joins a batch), then waits here for its
prediction. The first waiter starts a collector that lets every request the worker has
already received reach this point (gevent.idle: the event loop has nothing else ready),
and keeps doing so while more join, up to NBS2I_MAX_BATCH samples or NBS2I_BATCH_WAIT_MS.
A lone request is therefore scored at once; a busy worker gathers what is in flight.
A batch that raises (or returns the wrong count) is scored sample by sample
(Model.score: logged once a minute, counted in nbs2i_batch_fallbacks_total), so only the
failing request gets a 500. The build checked that batch_predictor answers what predictor
answers (builder/runner.py), so gathering never changes an answer. Each batch is scored in a
greenlet of its own, so one that waits does not hold the requests behind it.
"""
from __future__ import annotations

from time import perf_counter
from typing import Any

import gevent
from gevent.event import AsyncResult

from .metrics import Metrics
from .model import Model


class Batcher:
    def __init__(self, model: Model, max_batch: int, wait_seconds: float, metrics: Metrics):
        self.model, self.max_batch, self.wait, self.metrics = model, max_batch, wait_seconds, metrics
        self.pending: list[tuple[Any, AsyncResult]] = []
        self.collecting = False

    def predict(self, sample: Any) -> Any:
        """The prediction for a checked sample, or the exception the predictor raised for it."""
        result = AsyncResult()
        self.pending.append((sample, result))
        if not self.collecting:
            self.collecting = True
            gevent.spawn(self._collect)
        return result.get()

    def _collect(self) -> None:
        try:
            while self.pending:
                started = perf_counter()
                deadline = started + self.wait
                while len(self.pending) < self.max_batch:
                    seen = len(self.pending)
                    gevent.idle()
                    if len(self.pending) == seen or perf_counter() >= deadline:
                        break
                batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
                # Scored in a greenlet of its own: a predictor that waits (I/O, a sleep) holds
                # its batch only, and the next batch gathers meanwhile.
                gevent.spawn(self._score, batch, perf_counter() - started)
        finally:
            self.collecting = False

    def _score(self, batch: list[tuple[Any, AsyncResult]], waited: float) -> None:
        samples = [sample for sample, _ in batch]
        fell_back = []
        outcomes = self.model.score(samples, fell_back.append)
        if not fell_back:  # the histogram counts batches batch_predictor answered; a fallback is counted apart
            self.metrics.batched(len(samples), waited)
        else:
            self.metrics.fell_back(len(samples))
        for (_, result), outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                result.set_exception(outcome)
            else:
                result.set(outcome)
