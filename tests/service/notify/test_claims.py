"""Deliveries claimed by several senders at once (replicas of notify, each with its senders) on
the wire server: each due delivery is leased to exactly one of them, the most overdue first, and
none that is not yet due."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from pymongo import MongoClient

from services.notify.store import PENDING, SENT, NotifyStore

SENDERS = 4
LEASE_S = 60


def delivery(number: int, channel: str, status: str, due: datetime) -> dict:
    return {
        "_id": f"dlv-{number:04d}",
        "origin_id": f"evt-{number}",
        "recipient": f"institution:I-{number}",
        "route": channel,
        "channel": channel,
        "status": status,
        "next_attempt_at": due,
        "attempts": 0,
    }


def test_senders_claiming_at_once_lease_each_due_delivery_to_exactly_one_of_them_most_overdue_first(mongo_uri):
    client = MongoClient(mongo_uri, tz_aware=True)
    db = client[f"claims_{uuid.uuid4().hex[:8]}"]
    NotifyStore.ensure_indexes(db)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    due = [delivery(n, "email", PENDING, now - timedelta(seconds=n)) for n in range(40)]
    db.deliveries.insert_many(
        [
            *due,
            delivery(500, "email", PENDING, now + timedelta(minutes=5)),  # not yet due
            delivery(501, "email", SENT, now - timedelta(minutes=5)),  # settled
            delivery(502, "sms", PENDING, now - timedelta(minutes=5)),  # another channel's
        ]
    )

    def sender(number: int) -> list[str]:
        store = NotifyStore(db, "notify")
        claimed = []
        while (doc := store.claim("email", f"sender-{number}", now, LEASE_S)) is not None:
            claimed.append(doc["_id"])
        return claimed

    with ThreadPoolExecutor(SENDERS) as pool:
        by_sender = list(pool.map(sender, range(SENDERS)))

    every_claim = [claim for claims in by_sender for claim in claims]
    assert sorted(every_claim) == sorted(d["_id"] for d in due)  # each once, and none other
    for number, claims in enumerate(by_sender):
        leased = {d["_id"]: d for d in db.deliveries.find({"_id": {"$in": claims}})}
        assert all(leased[c]["holder"] == f"sender-{number}" for c in claims)
        assert all(leased[c]["next_attempt_at"] == now + timedelta(seconds=LEASE_S) for c in claims)
        assert claims == sorted(claims, reverse=True), "each sender takes the most overdue first"
    client.drop_database(db.name)
    client.close()
