from __future__ import annotations

import pytest

from services.gateway.app import create_app
from services.gateway.ratelimit import TokenBucketLimiter
from tests.unit.gateway.fake_rpc import gateway_settings
from tests.unit.gateway.helpers import bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_asks_to_wait_until_a_token_refills():
    clock = Clock()
    limiter = TokenBucketLimiter(rate_per_s=0.5, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("a") == 2  # one token every 2 s
    clock.now += 1.0
    assert limiter.take("a") == 1
    clock.now += 1.0
    assert limiter.take("a") == 0
    assert limiter.take("a") == 2


def test_refused_requests_do_not_spend_tokens():
    clock = Clock()
    limiter = TokenBucketLimiter(rate_per_s=1, burst=1, clock=clock)
    assert limiter.take("a") == 0
    assert [limiter.take("a") for _ in range(5)] == [1] * 5
    clock.now += 1.0
    assert limiter.take("a") == 0


def test_principals_have_their_own_buckets_and_the_oldest_are_forgotten():
    clock = Clock()
    limiter = TokenBucketLimiter(rate_per_s=0.01, burst=1, clock=clock, max_principals=2)
    assert limiter.take("a") == 0
    assert limiter.take("b") == 0
    assert limiter.take("a") > 0
    limiter.take("c")  # pushes out "b", the least recently seen
    assert limiter.take("b") == 0


@pytest.mark.parametrize("rate, burst", [(0, 5), (-1, 5), (1, 0)])
def test_a_bucket_needs_a_positive_rate_and_burst(rate, burst):
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate_per_s=rate, burst=burst)


def test_a_token_over_its_rate_gets_429_with_retry_after(rpc):
    client = create_app(gateway_settings(rate_limit_per_s=0.001, rate_limit_burst=2), rpc).test_client()
    alice, bob = bearer("province", "alice"), bearer("province", "bob")
    assert [client.get("/v1/programmes", headers=alice).status_code for _ in range(2)] == [200, 200]
    limited = client.get("/v1/programmes", headers=alice)
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1
    assert client.get("/v1/programmes", headers=bob).status_code == 200
    assert client.get("/healthz").status_code == 200  # public routes are not limited per token


def test_a_rate_of_zero_turns_the_limit_off(client, as_province):
    assert {client.get("/v1/programmes", headers=as_province).status_code for _ in range(60)} == {200}
