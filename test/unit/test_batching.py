"""The batcher's decision: gather only when this worker measured that a gather pays."""
from __future__ import annotations

import math
import time

import gevent
import pytest

from nbs2i_service import batching, contract
from nbs2i_service.batching import Batcher, decide, gather_cost
from nbs2i_service.metrics import Metrics
from nbs2i_service.model import Model


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def model(predictor, batch_predictor, example=True) -> Model:
    metadata = {contract.META_EXAMPLE: {"x": 1}} if example else {}
    return Model({"predictor": predictor, "batch_predictor": batch_predictor}, metadata)


def test_a_batch_predictor_no_faster_per_sample_is_never_gathered_for():
    fast = model(lambda s: s["x"] + 1, lambda ss: [s["x"] + 1 for s in ss])
    min_ready, why = decide(fast, 32, (50e-6, 0.0))
    assert min_ready == math.inf and "gathering never pays here" in why


def test_waking_each_waiter_can_cost_more_than_the_batch_saves():
    m = model(lambda s: _busy(0.001), lambda ss: _busy(0.001) or [0] * len(ss))
    assert decide(m, 32, (20e-6, 0.002))[0] == math.inf  # 1 ms saved a sample, 2 ms to hand each its answer


def test_a_saving_gathers_once_enough_requests_are_ready_to_outweigh_a_gather():
    # 1 ms a sample alone, 1 ms for a whole batch: a gather of 4 ms pays from 6 samples (5 ms saved)
    m = model(lambda s: _busy(0.001), lambda ss: _busy(0.001) or [0] * len(ss))
    min_ready, why = decide(m, 32, (0.004, 0.0))
    assert min_ready == 4, why  # 5 samples save 4 x 1 ms: ready others 4 and the request itself
    assert decide(m, 32, (20e-6, 0.0))[0] == 1
    assert "gathering when at least 4 other request(s) are ready" in why


def test_without_an_example_or_with_a_slow_predictor_it_gathers_whenever_another_is_ready(monkeypatch):
    assert decide(model(lambda s: 1, lambda ss: [1] * len(ss), example=False), 32, (1.0, 0.0))[0] == 1
    monkeypatch.setattr(batching, "SLOW_PREDICTOR", 0.0005)
    called = []
    slow = model(lambda s: _busy(0.001), lambda ss: called.append(len(ss)) or [0] * len(ss))
    assert decide(slow, 32, (1.0, 0.0))[0] == 1 and called == []  # batch_predictor not timed


def test_a_gather_costs_something_measurable_and_little():
    per_batch, per_sample = gather_cost()
    assert 0 < per_batch < 0.01 and 0 <= per_sample < 0.01


def _concurrently(batcher: Batcher, n: int) -> list:
    return [g.get() for g in [gevent.spawn(batcher.predict, {"x": i}) for i in range(n)]]


def test_a_lone_request_is_scored_by_predictor_and_ready_ones_join_a_batch_when_it_pays():
    batches = []
    m = model(lambda s: s["x"] * 2, lambda ss: batches.append(len(ss)) or [s["x"] * 2 for s in ss])
    gathered, score = [], m.score
    m.score = lambda samples, fallback=None: gathered.append(len(samples)) or score(samples, fallback)
    batcher = Batcher(m, 32, 0.002, Metrics(["predict"], "m", "b"))  # gathers pay from 2 samples
    assert [batcher.predict({"x": i}) for i in range(100)] == [2 * i for i in range(100)]
    # one after another: gathered at first (as if gathers were full) until the moving average of
    # their sizes falls under 2 (12 of them), then one lone request in 16 looks again (5 in the 88 left)
    assert gathered == [1] * 17 and batches == []  # Model.score gives a batch of one to predictor
    assert _concurrently(batcher, 8) == [2 * i for i in range(8)]  # 7 others ready: gathered
    assert batches == [8] and gathered[17:] == [8]
    batcher.min_ready = math.inf  # measured not to pay: every one by predictor, even when many are ready
    assert _concurrently(batcher, 8) == [2 * i for i in range(8)] and gathered[17:] == [8]


@pytest.mark.parametrize("fails", ["predictor", "batch_predictor"])
def test_calibrating_a_worker_whose_example_fails_serves_as_before(fails):
    def boom(_):
        raise ValueError("no")

    m = model(boom if fails == "predictor" else (lambda s: 1), boom if fails == "batch_predictor" else (lambda ss: ss))
    batcher = Batcher(m, 32, 0.002, Metrics(["predict"], "m", "b"))
    assert "timing the example failed (ValueError: no)" in batcher.calibrate() and batcher.min_ready == 1
