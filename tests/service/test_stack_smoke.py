"""The whole stack answers through the gateway: ready, and a token is required."""

import pytest
import requests

from tests.support.servers import wait_until

pytestmark = pytest.mark.service


def test_the_gateway_is_ready_when_every_service_answers(stack):
    # Each service has a second to answer the readiness ping; on a loaded machine one may miss it
    # once, and readiness is asked again, as Kubernetes asks it.
    answer = wait_until(
        lambda: (r := requests.get(stack.url("/readyz"), timeout=10)).status_code == 200 and r,
        timeout=30,
        what="the gateway to be ready",
    )
    assert set(answer.json()["checks"]) >= {"broker", "applications", "review", "funding", "notify"}


def test_the_api_needs_a_token(stack):
    answer = requests.get(stack.url("/v1/programmes"), timeout=10)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"].startswith("application/problem+json")
