"""What operators rely on when Kubernetes stops and scales services: a SIGTERM while
events are being handled loses nothing, and two replicas on the same queues never
apply an event twice or out of order."""

import pytest

from tests.service.conftest import CONSUMER, effects, publish
from tests.support.servers import wait_until

pytestmark = pytest.mark.service


def test_sigterm_while_handling_stops_cleanly_and_loses_nothing(platform):
    first = platform.start(CONSUMER)
    # Enough that some are still queued when the stop ends, however fast the batches run (40 were
    # all applied before a graceful stop ended once, on a CI machine).
    count = 100
    events = [publish(platform.amqp_uri, "slow", f"slow-{i}", 1, {"n": i, "delay_s": 0.3}) for i in range(count)]
    wait_until(lambda: len(effects(platform)) >= 3, what="handling under way")

    assert first.stop(timeout=60) == 0, first.log()  # SIGTERM, graceful
    done_before_stop = len(effects(platform))
    assert done_before_stop < count, "the test needs events still queued when the service stops"

    platform.start(CONSUMER)  # the replacement pod
    wait_until(lambda: len(effects(platform)) >= count, timeout=120, what="every event applied")
    applied = effects(platform)
    assert sorted(e["event_id"] for e in applied) == sorted(e.id for e in events)  # each exactly once


def test_two_replicas_on_the_same_queues_apply_each_event_once_and_in_order(platform):
    platform.start(CONSUMER)
    platform.start(CONSUMER)
    sent = []
    for sequence in range(1, 11):
        for subject in range(8):
            event = publish(platform.amqp_uri, "recorded", f"shared-{subject}", sequence, {"n": sequence})
            sent.append(event)
            if sequence % 3 == 0:  # a redelivery, as after a lost ack
                publish(
                    platform.amqp_uri, "recorded", f"shared-{subject}", sequence, {"n": sequence}, event_id=event.id
                )

    wait_until(lambda: len(effects(platform)) >= 80, timeout=90, what="all 80 events applied")
    applied = effects(platform)
    assert sorted(e["event_id"] for e in applied) == sorted(e.id for e in sent)
    for subject in range(8):
        assert [e["sequence"] for e in applied if e["subject"] == f"shared-{subject}"] == list(range(1, 11))
