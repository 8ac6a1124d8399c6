"""Rate limits: a token bucket per principal, kept in the worker process, and the same limit
shared by every worker and pod through one MongoDB collection.

The shared limit is GCRA (the generic cell rate algorithm), which is a token bucket kept as one
number per principal: the theoretical arrival time (TAT) of the next request. A request at
`now` is allowed when TAT - now <= (burst - 1) * interval, and moves TAT to
max(TAT, now) + interval. Each take is one compare-and-set on that number, so concurrent
workers cannot both spend the last token; a lost race is retried.

When the store cannot be reached the shared limiter FAILS OPEN TO THE LOCAL BUCKET: each worker
goes on limiting alone (the limit as it was before, per worker), and says so in the log. Failing
closed would turn a database outage into an outage of every route, the public notice included,
although the business services answer 503 by themselves when they need the database.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Callable

from pymongo import ASCENDING, IndexModel, MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

log = logging.getLogger(__name__)


class TokenBucketLimiter:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
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


GATEWAY_DATABASE = "chuyi_gateway"


class SharedLimiter:
    """The limit of `rate_per_s` with bursts of `burst`, held across every process that uses the
    same `collection`; `fallback` limits alone while the collection cannot be reached."""

    RACES = 8  # compare-and-set attempts before the request is counted by the fallback

    def __init__(
        self,
        collection,
        rate_per_s: float,
        burst: int,
        fallback: TokenBucketLimiter,
        *,
        clock: Callable[[], float] = time.time,
    ):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self._buckets, self._fallback, self._clock = collection, fallback, clock
        self._interval = 1.0 / rate_per_s
        self._tolerance = (burst - 1) * self._interval
        self._degraded = False

    @classmethod
    def on_mongo(cls, uri: str, scope: str, rate_per_s: float, burst: int) -> "SharedLimiter":
        client = MongoClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=500, connectTimeoutMS=500, socketTimeoutMS=500
        )
        # Always chuyi_gateway, the database the gateway's user may write: a URI's path names the
        # authentication database (/admin in the URIs the MongoDB operator writes), not this one.
        collection = client[GATEWAY_DATABASE][f"rate_limits_{scope}"]
        limiter = cls(collection, rate_per_s, burst, TokenBucketLimiter(rate_per_s, burst))
        try:
            collection.create_indexes([IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)])
        except PyMongoError as exc:
            limiter._down(exc)
        return limiter

    def take(self, principal: str) -> int:
        try:
            for _ in range(self.RACES):
                wait = self._try(principal)
                if wait is not None:
                    self._up()
                    return wait
            return self._fallback.take(principal)
        except PyMongoError as exc:
            self._down(exc)
            return self._fallback.take(principal)

    def _try(self, principal: str) -> int | None:
        """The wait (0: allowed), or None when another process moved the principal's TAT first."""
        now = self._clock()
        doc = self._buckets.find_one({"_id": principal})
        tat = max(doc["tat"], now) if doc else now
        if tat - now > self._tolerance:
            return max(1, math.ceil(tat - now - self._tolerance))
        new_tat = tat + self._interval
        update = {
            "$set": {"tat": new_tat, "expires_at": datetime.fromtimestamp(new_tat, timezone.utc) + timedelta(seconds=1)}
        }
        if doc is None:
            try:
                self._buckets.insert_one({"_id": principal, **update["$set"]})
                return 0
            except DuplicateKeyError:
                return None
        moved = self._buckets.update_one({"_id": principal, "tat": doc["tat"]}, update)
        return 0 if moved.modified_count == 1 else None

    def _down(self, exc: Exception) -> None:
        if not self._degraded:
            log.warning(
                "the shared rate limit store is unreachable (%s): each worker limits alone until it is back", exc
            )
        self._degraded = True

    def _up(self) -> None:
        if self._degraded:
            log.warning("the shared rate limit store is back")
        self._degraded = False
