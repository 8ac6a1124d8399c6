"""When a failed delivery is tried again: exponential backoff with jitter, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 10.0
    max_s: float = 3600.0
    give_up_after_s: float = 3 * 86400.0

    def delay(self, attempts: int, rand: float | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1, 2, ...): the capped
        exponential `base * 2^(attempts-1)`, drawn between half and all of it so that
        deliveries failed together do not come back together."""
        if attempts < 1:
            raise ValueError("attempts start at 1")
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(attempts - 1, 62))
        return ceiling * (0.5 + 0.5 * (random.random() if rand is None else rand))

    def next_attempt(
        self, planned_at: datetime, attempts: int, now: datetime, rand: float | None = None
    ) -> datetime | None:
        """When to try again, or None when the delivery has waited long enough: give up."""
        if (now - planned_at).total_seconds() >= self.give_up_after_s:
            return None
        return now + timedelta(seconds=self.delay(attempts, rand))
