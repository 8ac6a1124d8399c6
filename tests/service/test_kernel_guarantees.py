"""The four guarantees of events.md, against the real broker and a real wire server."""

import json
import time

import pytest
from kombu import Connection, Queue

from services.common import deadletters
from services.common.envelope import new_event
from services.common.messaging import (
    Nacked,
    Publisher,
    Unconfirmed,
    consumer_queue_name,
    dead_queue_name,
    declare_consumer_topology,
    declare_service_exchange,
    service_exchange,
)
from tests.service.conftest import CONSUMER, PRODUCER, effects, publish
from tests.service.kernel_services import KernelStore
from services.gateway.rpc import ClusterRpcClient
from tests.support.servers import rabbit_vhost, wait_until

pytestmark = pytest.mark.service


def test_broker_cut_while_writing_loses_nothing_and_applies_nothing_twice(proxy, platform):
    platform.start(CONSUMER)
    platform.start(PRODUCER, amqp=platform.amqp_uri.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}"))
    store = KernelStore(platform.db("producer"), "producer")
    subjects = [f"subject-{i}" for i in range(5)]

    for n in range(20):
        store.record(subjects[n % 5], n)
    proxy.cut()
    for n in range(20, 60):  # the broker is unreachable for the producer: the writes still succeed
        store.record(subjects[n % 5], n)
    assert platform.db("producer").records.count_documents({}) == 60
    held = platform.db("producer").outbox.count_documents({"sent_at": None})
    assert held >= 40, "the cut should have held back the events written during it"
    proxy.restore()
    for n in range(60, 80):
        store.record(subjects[n % 5], n)

    wait_until(lambda: len(effects(platform)) >= 80, timeout=90, what="all 80 events applied")
    applied = effects(platform)
    assert sorted(e["n"] for e in applied) == list(range(80))  # none lost, none twice
    assert len({e["event_id"] for e in applied}) == 80
    for subject in subjects:  # and each subject in order
        assert [e["sequence"] for e in applied if e["subject"] == subject] == list(range(1, 17))
    # the relay marks a pass's events sent once all of them are confirmed, which may be after they were applied
    wait_until(
        lambda: platform.db("producer").outbox.count_documents({"sent_at": None}) == 0, what="every event marked sent"
    )


def test_the_same_event_delivered_twice_has_one_effect(platform):
    platform.start(CONSUMER)
    event = publish(platform.amqp_uri, "recorded", "twice", 1, {"n": 7})
    publish(platform.amqp_uri, "recorded", "twice", 1, {"n": 7}, event_id=event.id)
    publish(platform.amqp_uri, "recorded", "twice", 2, {"n": 8})
    wait_until(lambda: len(effects(platform)) >= 2, what="both distinct events applied")
    later = publish(platform.amqp_uri, "recorded", "twice", 3, {"n": 9})  # after the duplicate was settled
    wait_until(lambda: effects(platform, event_id=later.id), what="the later event applied")
    assert [e["n"] for e in effects(platform)] == [7, 8, 9]


def test_a_handler_that_always_fails_is_dead_lettered_and_the_queue_keeps_flowing(platform):
    service = platform.start(CONSUMER)
    platform.db("consumer").switches.insert_one({"_id": "broken"})
    doomed = publish(platform.amqp_uri, "fragile", "fragile-1", 1, {"n": 1})
    healthy = publish(platform.amqp_uri, "recorded", "other", 1, {"n": 2})

    wait_until(lambda: effects(platform, event_id=healthy.id), what="the later, healthy event applied")
    letters = wait_until(
        lambda: deadletters.list_dead_letters(platform.amqp_uri, "consumer.producer"),
        what="the failing event in the dead-letter queue",
    )
    assert [letter["message_id"] for letter in letters] == [doomed.id]
    assert letters[0]["attempts"] == 3  # the first try and two retries
    assert "the fragile handler is broken" in letters[0]["error"]
    assert json.loads(letters[0]["body"])["id"] == doomed.id
    assert service.proc.poll() is None

    platform.db("consumer").switches.delete_one({"_id": "broken"})  # the operator fixes the cause
    assert deadletters.replay(platform.amqp_uri, "consumer.producer") == 1
    wait_until(lambda: effects(platform, event_id=doomed.id), what="the replayed event applied")
    assert deadletters.list_dead_letters(platform.amqp_uri, "consumer.producer") == []


def test_a_poison_event_inside_a_batch_fails_alone_and_the_rest_of_the_batch_applies_once(platform):
    service = platform.start(CONSUMER, EVENT_BATCH="6", EVENT_BATCH_WAIT_MS="1500")  # the six gather into one batch
    platform.db("consumer").switches.insert_one({"_id": "broken"})
    before = [publish(platform.amqp_uri, "recorded", "batch-a", sequence, {"n": sequence}) for sequence in (1, 2)]
    doomed = publish(platform.amqp_uri, "fragile", "batch-b", 1, {"n": 3})
    after = [publish(platform.amqp_uri, "recorded", "batch-a", sequence, {"n": sequence}) for sequence in (3, 4)]
    stranger = publish(platform.amqp_uri, "unhandled", "batch-c", 1)  # no handler: only moves batch-c's sequence on

    letters = wait_until(
        lambda: deadletters.list_dead_letters(platform.amqp_uri, "consumer.producer"),
        what="the poison event in the dead-letter queue",
    )
    assert [letter["message_id"] for letter in letters] == [doomed.id] and letters[0]["attempts"] == 3
    assert [(e["event_id"], e["position"]) for e in effects(platform)] == [
        (e.id, i) for i, e in enumerate(before + after)
    ]
    assert "event batch failed; applying its events one by one" in service.log()
    cursors = {c["_id"]: c["sequence"] for c in platform.db("consumer").consumer_cursors.find()}
    assert cursors == {"consumer.producer:batch-a": 4, "consumer.producer:batch-c": 1}
    assert platform.db("consumer").processed_events.count_documents({}) == 5
    assert stranger.id in {p["_id"].split(":")[1] for p in platform.db("consumer").processed_events.find()}


def test_events_of_one_subject_are_applied_in_sequence_order(platform):
    platform.start(CONSUMER)
    for sequence in (3, 5, 1, 4, 2):
        publish(platform.amqp_uri, "recorded", "ordered", sequence, {"n": sequence})
    wait_until(lambda: len(effects(platform)) >= 5, what="all five events applied")
    assert [e["sequence"] for e in effects(platform)] == [1, 2, 3, 4, 5]


def test_an_invalid_message_goes_straight_to_the_dead_letters(platform):
    platform.start(CONSUMER)
    publisher = Publisher(platform.amqp_uri)
    publisher.publish(service_exchange("producer"), "recorded", b"not json", message_id="garbage-1")
    publisher.close()
    letters = wait_until(
        lambda: deadletters.list_dead_letters(platform.amqp_uri, "consumer.producer"),
        what="the invalid message dead-lettered",
    )
    assert letters[0]["message_id"] == "garbage-1" and "InvalidEvent" in letters[0]["error"]
    assert dead_queue_name("consumer.producer") == "consumer.producer.dead"


@pytest.mark.parametrize("batch", ["1", "2"], ids=["each-event-alone", "group-commit"])
def test_a_request_is_answered_while_events_hold_every_worker_they_may_take(platform, batch):
    platform.db("consumer").switches.insert_one({"_id": "held"})
    # Events may take 2 of the 4 workers; batches of at most 2 make 12 events at least 6 batches, so
    # that without the events' share the batches waiting for a worker would queue ahead of the request.
    platform.start(CONSUMER, EVENT_BATCH=batch, SERVICE_MAX_WORKERS="4")
    for n in range(12):
        publish(platform.amqp_uri, "held", f"held-{n}", 1, {"n": n})
    wait_until(lambda: platform.db("consumer").begun.count_documents({}) >= 2, what="two events at work")

    client = ClusterRpcClient(platform.amqp_uri, timeout=20)
    try:
        assert client.call("consumer", "applied") == 0  # answered while every event waits on the switch
    finally:
        client.close()
    assert platform.db("consumer").begun.count_documents({}) == 2

    platform.db("consumer").switches.delete_one({"_id": "held"})
    wait_until(lambda: len(effects(platform)) >= 12, what="every held event applied")
    assert platform.db("consumer").begun.count_documents({}) == 12


def refusing(amqp_uri: str) -> str:
    """Makes the vhost of `amqp_uri` refuse (nack) every event of the producer, as a broker node does
    on a channel opened while a quorum queue elected its new leader: a queue bound to all of them
    that takes none. Returns the URI."""
    publisher = Publisher(amqp_uri)
    declare_service_exchange(publisher, "producer")
    publisher.declare(
        Queue(
            "refuses-all",
            exchange=service_exchange("producer"),
            routing_key="#",
            queue_arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
        )
    )
    publisher.close()
    return amqp_uri


def queued(amqp_uri: str, queue: str) -> int:
    with Connection(amqp_uri) as connection:
        return connection.default_channel.queue_declare(queue, passive=True).message_count


def recorded(n: int) -> tuple[str, dict, str]:
    event = new_event("producer", "recorded", f"subject-{n}", {"n": n}, sequence=1)
    return "recorded", event.to_dict(), event.id


def test_a_refused_publish_is_sent_again_on_a_new_channel_on_the_next_broker(platform):
    setup = Publisher(platform.amqp_uri)
    declare_consumer_topology(setup, "consumer", "producer", (100,))
    setup.close()
    with rabbit_vhost() as other:
        publisher = Publisher(f"{refusing(other)};{platform.amqp_uri}")
        try:
            [refused] = publisher.publish_all(service_exchange("producer"), [recorded(1)])
            assert isinstance(refused, Nacked)
            # the same channel could be refused for as long as the queue's old leader is away: a new one
            assert publisher.publish_all(service_exchange("producer"), [recorded(1)]) == [None]
        finally:
            publisher.close()
    assert queued(platform.amqp_uri, consumer_queue_name("consumer", "producer")) == 1


def test_the_relay_moves_to_the_next_broker_when_its_events_are_refused(platform):
    platform.start(CONSUMER)
    with rabbit_vhost() as other:
        producer = platform.start(PRODUCER, amqp=f"{refusing(other)};{platform.amqp_uri}")
        store = KernelStore(platform.db("producer"), "producer")
        started = time.monotonic()
        for n in range(10):
            store.record(f"subject-{n % 3}", n)
        wait_until(lambda: len(effects(platform)) >= 10, timeout=20, what="the events relayed by the next broker")
        relayed_in = time.monotonic() - started
        producer.stop()  # while its first broker's vhost still exists: without it, it would not stop at once
    assert relayed_in < 10
    assert sorted(e["n"] for e in effects(platform)) == list(range(10))


def test_a_broker_that_stops_answering_fails_a_publish_within_seconds_and_the_next_goes_elsewhere(proxy, platform):
    setup = Publisher(platform.amqp_uri)
    declare_consumer_topology(setup, "consumer", "producer", (100,))
    setup.close()
    via_proxy = platform.amqp_uri.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
    publisher = Publisher(f"{via_proxy};{platform.amqp_uri}")
    try:
        assert publisher.publish_all(service_exchange("producer"), [recorded(1)]) == [None]  # through the proxy
        proxy.freeze()  # the node vanishes: no confirm, no error, no closed socket
        started = time.monotonic()
        with pytest.raises(Unconfirmed):
            publisher.publish_all(service_exchange("producer"), [recorded(2)])
        assert time.monotonic() - started < Publisher.CONFIRM_TIMEOUT_S + 2
        started = time.monotonic()
        # not confirmed, so sent again: on the next broker, at once (a duplicate at worst)
        assert publisher.publish_all(service_exchange("producer"), [recorded(2)]) == [None]
        assert time.monotonic() - started < 2
    finally:
        publisher.close()
    assert queued(platform.amqp_uri, consumer_queue_name("consumer", "producer")) >= 2
