"""A token bucket per principal, kept in the worker process (each gunicorn worker limits alone)."""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Callable


class TokenBucketLimiter:
    def __init__(
        self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
        max_principals: int = 10_000,
    ):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._max_principals = max_principals
        # principal -> (tokens, when counted); least recently seen first, so the oldest is dropped.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, principal: str) -> int:
        """0 when the request may go ahead, else the whole seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            tokens, counted = self._buckets.pop(principal, (self._burst, now))
            tokens = min(self._burst, tokens + (now - counted) * self._rate)
            wait = 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self._rate))
            self._buckets[principal] = (tokens - 1 if wait == 0 else tokens, now)
            if len(self._buckets) > self._max_principals:
                self._buckets.popitem(last=False)
            return wait
