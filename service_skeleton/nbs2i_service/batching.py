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

Gathering is itself a cost (two greenlets, an AsyncResult and a pass of the event loop per
batch, tens of microseconds), and for a fast predictor it costs more than batch_predictor
saves. So each worker decides from what it measures when it starts (Batcher.calibrate): the
time predictor takes for the notebook's example, the time batch_predictor takes per sample
for NBS2I_MAX_BATCH copies of it, and what a gather costs here (per batch, and per sample for
waking each waiting request). A request gathers only when the requests the worker's loop
already has ready, with it, save more than a gather costs (`min_ready`), or when the last
gathers were joined by that many (a moving average: gRPC's calls arrive over one connection,
so the loop shows only one of them ready); otherwise it is scored by predictor at once, as
with batching off, and one such request in PROBE (16) gathers anyway to see whether others
join now. A worker whose batch_predictor saves less per sample than a gather costs per sample
never gathers; the log says what each worker decided, and why.
"""
from __future__ import annotations

import logging
import math
from statistics import median
from time import perf_counter
from typing import Any, Callable

import gevent
from gevent.event import AsyncResult

from .contract import META_EXAMPLE
from .metrics import Metrics
from .model import Model

log = logging.getLogger("nbs2i")
CALIBRATION_SECONDS = 0.05  # at most this long timing predictor at start, per worker
SLOW_PREDICTOR = 0.02  # a predictor this slow outweighs any gather: gather without timing batch_predictor
PROBE = 16  # while gathers do not pay, one lone request in this many gathers anyway, to see who joins


class Batcher:
    def __init__(self, model: Model, max_batch: int, wait_seconds: float, metrics: Metrics, min_ready: int = 1):
        self.model, self.max_batch, self.wait, self.metrics = model, max_batch, wait_seconds, metrics
        self.pending: list[tuple[Any, AsyncResult]] = []
        self.collecting = False
        # how many other requests must be ready in the worker's loop for a gather to pay (calibrate)
        self.min_ready = min_ready
        self.ready = _readiness(gevent.get_hub().loop)
        self.joined = float(max_batch)  # recent gathers' sizes (a moving average): at first, as if full
        self.lone = 0  # requests that found no gather worth starting

    def calibrate(self) -> str:
        """Set min_ready from this worker's own timings of the example; logs and returns what it decided."""
        self.min_ready, why = decide(self.model, self.max_batch, gather_cost())
        log.info("batching: %s", why)
        return why

    def predict(self, sample: Any) -> Any:
        """The prediction for a checked sample, or the exception the predictor raised for it."""
        if not self.collecting and not self._gathering_pays():
            return self.model.predictor(sample)  # nothing to gather with that would pay: at once
        result = AsyncResult()
        self.pending.append((sample, result))
        if not self.collecting:
            self.collecting = True
            gevent.spawn(self._collect)
        return result.get()

    def _gathering_pays(self) -> bool:
        """Whether a request that finds no gather under way starts one: the loop has enough other
        requests ready, or the last gathers found enough to join them (gRPC's calls, read from one
        connection, show only so); otherwise one lone request in PROBE gathers, to look again."""
        if self.min_ready == NEVER:
            return False
        if self.ready() >= self.min_ready or self.joined >= self.min_ready + 1:
            return True
        self.lone += 1
        return self.lone % PROBE == 0

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
                self.joined += (len(batch) - self.joined) / 4
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


NEVER = math.inf


def _readiness(loop: Any) -> Callable[[], int]:
    """How many events and greenlets the worker's loop has ready besides the running one: libev's
    pending watchers (connections with a request waiting) and gevent's queued callbacks
    (greenlets spawned or woken: gRPC's calls arrive so). A loop that cannot tell counts as busy."""
    callbacks = getattr(loop, "_callbacks", None)
    if callbacks is None or not hasattr(loop, "pendingcnt"):
        return lambda: 1 << 30
    return lambda: loop.pendingcnt + len(callbacks)


def decide(model: Model, max_batch: int, gather: tuple[float, float]) -> tuple[float, str]:
    """(min_ready, why): how many other ready requests make a gather pay, from the example's timings.

    gather is what gathering costs here (gather_cost): once per batch, and per sample (each
    waiter woken). A gather of n samples saves n * (predictor's time - batch_predictor's time
    per sample - the per-sample cost) and costs the per-batch cost; it pays once that saving is
    larger, so the smallest n - 1 others with a saving above it is min_ready. Without an
    example nothing can be timed, and the worker gathers whenever another request is ready.
    """
    per_batch, per_waiter = gather
    if META_EXAMPLE not in model.metadata:
        return 1, "no example to time the predictors with: gathering whenever another request is ready"
    example = model.metadata[META_EXAMPLE]
    try:
        single = _seconds(lambda: model.predictor(example), CALIBRATION_SECONDS)
        if single >= SLOW_PREDICTOR:
            return 1, (f"predictor takes {_us(single)} for the example, far more than a gather's {_us(per_batch)}: "
                       "gathering whenever another request is ready")
        batch = [example] * max_batch
        per_sample = _seconds(lambda: model.batch_predictor(batch), CALIBRATION_SECONDS) / max_batch
    except Exception as exc:  # noqa: BLE001 - the build ran both on the example; a worker that cannot time them serves as before
        return 1, f"timing the example failed ({type(exc).__name__}: {exc}): gathering whenever another request is ready"
    saving = single - per_sample - per_waiter
    timings = (f"predictor {_us(single)} a sample, batch_predictor {_us(per_sample)} a sample in {max_batch}, "
               f"a gather {_us(per_batch)} and {_us(per_waiter)} a sample")
    if saving <= 0 or saving * max_batch <= per_batch:
        return NEVER, f"{timings}: gathering never pays here, every request is scored by predictor at once"
    needed = math.floor(per_batch / saving) + 1  # the fewest samples whose saving beats a gather
    min_ready = max(1, needed - 1)
    return min_ready, f"{timings}: gathering when at least {min_ready} other request(s) are ready"


def gather_cost(group: int = 8, rounds: int = 32) -> tuple[float, float]:
    """What gathering costs in this process, (per batch, per sample): Batcher rounds for one sample
    and for `group` concurrent ones, of a model that costs nothing, against the same greenlets
    answered at once."""
    class Free:
        batch_predictor = None

        def score(self, samples: list, fallback: Any = None) -> list:
            return samples

    class Uncounted:
        def batched(self, *args: Any) -> None:
            pass

    batcher = Batcher(Free(), group, 0.0, Uncounted(), min_ready=0)  # type: ignore[arg-type]

    def together(call: Callable[[int], Any]) -> None:
        gevent.joinall([gevent.spawn(call, i) for i in range(group)])

    def measure() -> tuple[float, float]:
        one = _seconds(lambda: batcher.predict(0), 0.01, rounds)
        gathered = _seconds(lambda: together(batcher.predict), 0.02, rounds)
        at_once = _seconds(lambda: together(lambda i: i), 0.02, rounds)
        per_sample = max(0.0, (gathered - at_once - one) / (group - 1))
        return max(0.0, one - per_sample), per_sample

    return gevent.spawn(measure).get()


def _seconds(call: Callable[[], Any], budget: float, most: int = 200) -> float:
    """The median time of a call, repeated within a budget of seconds (once at least; at most `most` times)."""
    times: list[float] = []
    spent = 0.0
    while len(times) < most and (not times or spent < budget):
        started = perf_counter()
        call()
        times.append(perf_counter() - started)
        spent += times[-1]
    return median(times)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 0.001 else f"{seconds * 1000:,.1f} ms"
