"""Fixtures for the review service through the gateway.

The applications service's events are published here exactly as it publishes them
(tests/support/events.py: a CloudEvent checked against its `events.py`, on
`applications.events`), so these tests do not depend on that service's progress. The
review service's events are read from a queue of our own bound to `review.events`.

The session stack runs with CHUYI_ALLOW_SHORT_NOTICE=1 (tests/support/stack.py), so that
a notice window can close within seconds.
"""

import json
import uuid

import pytest
from kombu import Connection, Queue

from services.common.messaging import service_exchange
from tests.support.events import Producers
from tests.support.servers import wait_until


class ReviewEvents:
    """Every event the review service emits, as the test session has seen them."""

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri)
        self.channel = self.connection.channel()
        self.queue = Queue(
            f"test.review-events.{uuid.uuid4().hex[:8]}",
            exchange=service_exchange("review"),
            routing_key="#",
            exclusive=True,
            channel=self.channel,
        )
        self.queue.declare()
        self.seen: list[dict] = []

    def _drain(self) -> None:
        while (message := self.queue.get(no_ack=True)) is not None:
            self.seen.append(json.loads(message.body))

    def of(self, name: str, call_id: str, **match) -> list[dict]:
        """The `name` events about `call_id` (and matching `match` in their data) so far."""
        self._drain()
        return [
            e["data"]
            for e in self.seen
            if e["type"] == f"cn.chuyi.review.{name}.v1"
            and e["data"].get("call_id") == call_id
            and all(e["data"].get(k) == v for k, v in match.items())
        ]

    def wait(self, name: str, call_id: str, count: int = 1, **match) -> list[dict]:
        return wait_until(
            lambda: (found := self.of(name, call_id, **match)) and len(found) >= count and found,
            timeout=30,
            what=f"{count} {name} event(s) of {call_id}",
        )

    def close(self) -> None:
        self.connection.release()


@pytest.fixture(scope="package")
def review_events(stack):
    log = ReviewEvents(stack.amqp_uri)
    yield log
    log.close()


@pytest.fixture(scope="package")
def applications(stack):
    """The applications service's events, as it publishes them."""
    with Producers(stack.amqp_uri) as publisher:
        yield publisher


@pytest.fixture(scope="package")
def province(stack):
    return stack.client("province")


@pytest.fixture(scope="package")
def world(stack, applications, province):
    from tests.service.review.world import World

    return World(stack, applications, province)


@pytest.fixture(autouse=True)
def no_conflicted_assignment(request):
    """After every test: the independent checker finds no broken rule in any call it made."""
    if "world" not in request.fixturenames:
        yield
        return
    world = request.getfixturevalue("world")
    before = len(world.calls)
    yield
    for call in world.calls[before:]:
        assert world.violations(call, world.standing(call)) == [], call.id
