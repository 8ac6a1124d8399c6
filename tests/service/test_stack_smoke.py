"""The whole stack answers through the gateway: ready, and a token is required."""
import pytest
import requests

pytestmark = pytest.mark.service


def test_the_gateway_is_ready_when_every_service_answers(stack):
    answer = requests.get(stack.url("/readyz"), timeout=10)
    assert answer.status_code == 200
    assert set(answer.json()["checks"]) >= {"broker", "applications", "review", "funding", "notify"}


def test_the_api_needs_a_token(stack):
    answer = requests.get(stack.url("/v1/programmes"), timeout=10)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"].startswith("application/problem+json")
