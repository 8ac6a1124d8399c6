"""A starting service declares its topology patiently (services/common/messaging.py): a broker
that does not answer for a few seconds delays the start instead of ending it, and a refusal
ends it at once."""

import amqp.exceptions
import pytest

from services.common import messaging


class Broker:
    """A publisher whose broker fails the first declarations as given."""

    def __init__(self, *failures):
        self.failures, self.declared = list(failures), []

    def declare(self, *entities):
        if self.failures:
            raise self.failures.pop(0)
        self.declared.append(entities)


class Clock:
    """messaging's time: a sleep moves it on at once."""

    def __init__(self):
        self.now, self.slept = 0.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(messaging, "time", clock)
    return clock


def test_a_broker_slow_to_answer_is_asked_again_until_it_takes_the_topology(clock):
    broker = Broker(TimeoutError("timed out"), ConnectionRefusedError(111, "refused"))
    messaging.declare_consumer_topology(broker, "funding", "review", (100, 200))
    [declared] = broker.declared
    assert "funding.review" in {getattr(entity, "name", None) for entity in declared}
    assert clock.slept == [0.5, 1.0]


def test_a_refusal_is_not_asked_again(clock):
    broker = Broker(amqp.exceptions.AccessRefused("no access to this vhost"))
    with pytest.raises(amqp.exceptions.AccessRefused):
        messaging.declare_service_exchange(broker, "review")
    assert clock.slept == [] and broker.declared == []


def test_a_broker_that_never_answers_ends_the_start_within_the_budget(clock):
    broker = Broker(*[TimeoutError("timed out")] * 100)
    with pytest.raises(TimeoutError):
        messaging.declare_service_exchange(broker, "review")
    assert broker.declared == [] and sum(clock.slept) <= messaging.DECLARE_BUDGET_S
    assert clock.slept[-1] == 5.0  # backing off to at most 5 s between attempts
