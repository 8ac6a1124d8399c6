"""The backoff schedule of failed deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.notify.domain.retry import RetryPolicy

POLICY = RetryPolicy(base_s=10, max_s=3600, give_up_after_s=86400)


def test_the_delay_doubles_with_each_attempt_between_half_and_all_of_its_ceiling():
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (9, 2560)]:
        assert POLICY.delay(attempts, rand=0.0) == ceiling / 2
        assert POLICY.delay(attempts, rand=1.0) == ceiling


def test_the_delay_is_capped_even_after_very_many_attempts():
    assert POLICY.delay(10, rand=1.0) == 3600
    assert POLICY.delay(10_000, rand=1.0) == 3600


def test_jitter_spreads_deliveries_that_failed_together():
    delays = {POLICY.delay(5) for _ in range(50)}
    assert len(delays) > 1 and all(80 <= d <= 160 for d in delays)


def test_attempts_count_from_one():
    with pytest.raises(ValueError):
        POLICY.delay(0)


def test_a_delivery_is_given_up_once_it_has_waited_long_enough():
    planned = datetime(2026, 6, 1, tzinfo=timezone.utc)
    soon = planned + timedelta(hours=1)
    assert POLICY.next_attempt(planned, 3, soon, rand=1.0) == soon + timedelta(seconds=40)
    assert POLICY.next_attempt(planned, 30, planned + timedelta(days=1)) is None
