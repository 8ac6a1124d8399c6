"""The outbox relay's lease follows the relay loop (services/common/outbox.py): while the loop
comes round the heartbeat renews it; a loop stuck in a call that does not return lets it lapse,
so that another replica relays the events instead of none."""

import time

from services.common import outbox
from services.common.config import Settings


class Lease:
    def __init__(self):
        self.renewals, self.holding = 0, False

    def held(self):
        return self.holding

    def acquire(self):
        self.renewals += 1
        self.holding = True
        return True


def relay():
    relay = outbox.OutboxRelay(db=None, service="applications", settings=Settings(), publisher=object())
    relay.lease = Lease()
    return relay


def test_the_lease_is_renewed_while_the_relay_loop_comes_round():
    moving = relay()
    moving.beat()
    moving.beat()
    assert moving.lease.renewals == 2


def test_a_relay_loop_stuck_in_a_call_lets_its_lease_lapse_and_takes_it_back_once_it_moves(caplog):
    stuck = relay()
    stuck._came_round = time.monotonic() - outbox.RELAY_STUCK_S - 1
    stuck.beat()
    stuck.beat()
    assert stuck.lease.renewals == 0
    assert [r.message for r in caplog.records].count(
        f"the applications outbox relay has not moved for {outbox.RELAY_STUCK_S:.0f} s: its lease lapses"
    ) == 1
    stuck._came_round = time.monotonic()  # the call returned; the loop came round
    stuck.beat()
    assert stuck.lease.renewals == 1
