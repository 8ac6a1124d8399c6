"""Other services' events, published in a test exactly as their services publish them: a
CloudEvent (`services.common.envelope.new_event`) on `<source>.events` with the event name
as routing key, its data checked against the producer's contract (its `events.py`), each
subject's sequence counting from 1. Tests of a consumer so do not depend on the
producer's progress."""

from __future__ import annotations

import itertools
from datetime import datetime

from services.contracts.applications_events import EVENTS as APPLICATION_EVENTS
from services.common.envelope import Event, new_event
from services.common.messaging import Publisher, service_exchange
from services.contracts.funding_events import EVENTS as FUNDING_EVENTS
from services.contracts.review_events import EVENTS as REVIEW_EVENTS

CONTRACTS = {"applications": APPLICATION_EVENTS, "review": REVIEW_EVENTS, "funding": FUNDING_EVENTS}
#: event name -> the service that emits it
SOURCE_OF = {name: source for source, events in CONTRACTS.items() for name in events}


def fitting(name: str, data: dict) -> dict:
    """`data`, once checked against the contract of the event `name`."""
    errors = CONTRACTS[SOURCE_OF[name]][name].validate(data)
    assert not errors, f"{name} data does not fit the {SOURCE_OF[name]} contract: {errors}"
    return data


class Producers:
    """Publishes the events of every producing service; the source comes from the name."""

    def __init__(self, amqp_uri: str):
        self.publisher = Publisher(amqp_uri)
        self._sequences: dict[tuple[str, str], itertools.count] = {}

    def publish(
        self, name: str, subject: str, data: dict, *, sequence: int | None = None, time: datetime | None = None
    ) -> Event:
        """The next event of `subject` (or the one at `sequence`), stamped now (or at `time`)."""
        source = SOURCE_OF[name]
        if sequence is None:
            sequence = next(self._sequences.setdefault((source, subject), itertools.count(1)))
        event = new_event(source, name, subject, fitting(name, data), sequence=sequence, time=time)
        self.again(event)
        return event

    def again(self, event: Event) -> None:
        """The same event once more, as a redelivery would bring it."""
        self.publisher.publish(service_exchange(event.service), event.name, event.to_dict(), message_id=event.id)

    def close(self) -> None:
        self.publisher.close()

    def __enter__(self) -> Producers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def publish_once(
    amqp_uri: str, name: str, subject: str, data: dict, *, sequence: int = 1, time: datetime | None = None
) -> Event:
    """One event, on a connection of its own."""
    with Producers(amqp_uri) as producers:
        return producers.publish(name, subject, data, sequence=sequence, time=time)
