"""Deliveries settle: sent, or given up (for good, or because their webhook was deleted or
switched off), each with the event that says so."""

from __future__ import annotations

from datetime import datetime

from services.notify.store import SENT, NotifyStore


def settle(
    store: NotifyStore, delivery: dict, status: str, now: datetime, error: str | None = None, attempted: bool = True
) -> bool:
    """Mark a pending delivery sent or failed and emit the event that says so; False if
    it was settled already."""

    def work():
        attempts = delivery["attempts"] + (1 if attempted else 0)
        if not store.mark_settled(delivery["_id"], status, now, attempts, error):
            return False
        data = {
            "delivery_id": delivery["_id"],
            "notification_id": delivery["notification_id"],
            "recipient": delivery["recipient"],
            "kind": delivery["kind"],
            "channel": delivery["channel"],
            "source_event_id": delivery["source_event_id"],
            "attempts": attempts,
        }
        if status == SENT:
            store.emit("notification_sent", delivery["_id"], data)
        else:
            store.emit("notification_failed", delivery["_id"], {**data, "error": error})
        return True

    return store.atomic(work)
