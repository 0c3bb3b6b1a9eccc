"""Log lines for things that can happen on every request: at most one a minute, with a count.

A broken batch_predictor or a payload-log sink that is down would otherwise write a line (or a
traceback) per request, and log alerting would page on the flood rather than on the cause.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

EVERY_S = 60.0


class EveryMinute:
    """log.error(message) at most once per EVERY_S; the next line says how many were held back."""

    def __init__(self, log: logging.Logger, clock: Callable[[], float] = time.monotonic, every: float = EVERY_S):
        self.log, self.clock, self.every = log, clock, every
        self.last: float | None = None
        self.held = 0

    def __call__(self, message: str, *args: object, level: int = logging.ERROR) -> bool:
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            self.held += 1
            return False
        if self.held:
            message += f" ({self.held} more like it since the last such line)"
        self.last, self.held = now, 0
        self.log.log(level, message, *args)
        return True
