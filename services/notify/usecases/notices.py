"""What is to be told, and to whom: the other services' events, the experts' review
deadlines and the dead letters piling up become notices, planned once per origin."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.notify.domain.directory import facts_of
from services.notify.domain.platform import Origin, dead_letters_notice, due_window, review_reminders
from services.notify.domain.recipients import RULES, notices_for
from services.notify.store import NotifyStore
from services.notify.usecases.planning import plan


def event_arrived(store: NotifyStore, name: str, data: Mapping, origin: Origin, now: datetime) -> None:
    """Learn who is who from the event, then plan the notices its kind calls for. Runs
    inside the handler's transaction."""

    def work():
        store.learn(facts_of(name, data))
        plan(store, origin, notices_for(name, data, store) if name in RULES else [], now)

    store.atomic(work)


def remind_experts(store: NotifyStore, now: datetime, hours: float) -> None:
    """One reminder per expert and deadline of the open reviews due within `hours`, once per window."""
    due = store.open_assignments_due(*due_window(now, hours))
    for origin, notice in review_reminders(due, store):
        plan(store, origin, [notice], now)


def dead_letters_counted(store: NotifyStore, depths: Mapping[str, int], now: datetime) -> None:
    """The province is told, once an hour, while any dead-letter queue holds messages."""
    found = dead_letters_notice(depths, now)
    if found:
        origin, notice = found
        plan(store, origin, [notice], now)
