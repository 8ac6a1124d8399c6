"""The MongoDB side of the kernel: a repository base with transactions, the outbox,
idempotent event handling and idempotent commands.

A state change and the events it raises are written in one transaction (the outbox):
`emit()` stages an event beside the writes of the same `atomic()` block. Sequences are
per subject and taken from a counter document inside that transaction, so two writers
of one subject conflict and one retries: committed order is sequence order.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, TypeVar

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from .envelope import Event, new_event
from .observability import correlation_id

T = TypeVar("T")

KERNEL_INDEXES = {
    "outbox": [
        IndexModel([("sent_at", ASCENDING), ("staged_at", ASCENDING), ("sequence", ASCENDING)], name="unsent_in_order"),
        # Unsent events have sent_at None, which a TTL index never expires.
        IndexModel([("sent_at", ASCENDING)], name="expire_sent_after_30_days", expireAfterSeconds=30 * 86400),
        IndexModel([("subject", ASCENDING), ("sequence", ASCENDING)], name="subject_sequence", unique=True),
    ],
    "processed_events": [IndexModel([("at", ASCENDING)], name="expire_after_30_days", expireAfterSeconds=30 * 86400)],
    "consumer_cursors": [],
    "subject_sequences": [],
    "idempotency_keys": [IndexModel([("created_at", ASCENDING)], name="expire_after_24_hours", expireAfterSeconds=86400)],
    "leases": [],
}


class OutOfOrder(Exception):
    """An event arrived before its predecessor in the subject's sequence was applied."""

    def __init__(self, consumer: str, event: Event, expected: int):
        super().__init__(f"{consumer}: {event.subject} sequence {event.sequence} arrived before {expected}")
        self.expected = expected


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key was sent again with a different request."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class BaseStore:
    """A service's repository. Subclasses name their collections and `indexes`; they
    read and write through `self.session` so that their writes join `atomic()`."""

    indexes: dict[str, list[IndexModel]] = {}
    events: dict = {}  # event name -> marshmallow schema of its data (the service's events.py)

    def __init__(self, db, service: str, on_events_staged: Callable[[], None] = lambda: None):
        self.db = db
        self.service = service
        self.session = None
        self._on_events_staged = on_events_staged
        self._staged = 0

    @classmethod
    def ensure_indexes(cls, db) -> None:
        existing = set(db.list_collection_names())
        for name, models in {**KERNEL_INDEXES, **cls.indexes}.items():
            if name not in existing:
                db.create_collection(name)  # transactions cannot create collections on older servers
            if models:
                db[name].create_indexes(models)

    def atomic(self, work: Callable[[], T]) -> T:
        """Run `work` in one transaction (joining the current one, if any)."""
        if self.session is not None:
            return work()
        with self.db.client.start_session() as session:
            def attempt(s):
                self.session, self._staged = s, 0
                try:
                    return work()
                finally:
                    self.session = None
            result = session.with_transaction(
                attempt, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority"))
        if self._staged:
            self._on_events_staged()
        return result

    def emit(self, name: str, subject: str, data: dict) -> Event:
        """Stage an event in the outbox, inside the current transaction."""
        if self.session is None:
            raise RuntimeError("emit() outside atomic(): the event would not be written with its state change")
        if name not in self.events:
            raise ValueError(f"{name!r} is not an event of the {self.service} service")
        errors = self.events[name].validate(data)
        if errors:
            raise ValueError(f"{name} data does not fit its schema: {errors}")
        counter = self.db.subject_sequences.find_one_and_update(
            {"_id": subject}, {"$inc": {"sequence": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER, session=self.session)
        event = new_event(self.service, name, subject, data, sequence=counter["sequence"],
                          correlation_id=correlation_id.get())
        self.db.outbox.insert_one({
            "_id": event.id, "subject": subject, "sequence": event.sequence, "name": name,
            "event": event.to_dict(), "staged_at": utcnow(), "sent_at": None, "attempts": 0,
        }, session=self.session)
        self._staged += 1
        return event

    def handle_once(self, consumer: str, event: Event, effect: Callable[[], T]) -> bool:
        """Apply `effect` for `event` exactly once per consumer, in subject order.

        Returns False for a duplicate (already applied, or older than what was applied).
        Raises OutOfOrder when an earlier event of the subject has not been applied yet.
        """
        def work():
            s = self.session
            if self.db.processed_events.find_one({"_id": f"{consumer}:{event.id}"}, session=s):
                return False
            cursor = self.db.consumer_cursors.find_one({"_id": f"{consumer}:{event.subject}"}, session=s)
            applied = cursor["sequence"] if cursor else 0
            if event.sequence <= applied:
                return False
            if event.sequence > applied + 1:
                raise OutOfOrder(consumer, event, applied + 1)
            effect()
            self.db.processed_events.insert_one(
                {"_id": f"{consumer}:{event.id}", "consumer": consumer, "type": event.type, "at": utcnow()}, session=s)
            self.db.consumer_cursors.update_one(
                {"_id": f"{consumer}:{event.subject}"}, {"$set": {"sequence": event.sequence}}, upsert=True, session=s)
            return True
        return self.atomic(work)

    def once_per_key(self, key: str | None, fingerprint: str, command: Callable[[], dict]) -> tuple[dict, bool]:
        """Run a creating command once per idempotency key; a retry gets the first reply.

        Returns (reply, replayed). Raises IdempotencyKeyReused for the same key with another request.
        """
        if key is None:
            return self.atomic(command), False

        def work():
            earlier = self.db.idempotency_keys.find_one({"_id": key}, session=self.session)
            if earlier:
                if earlier["fingerprint"] != fingerprint:
                    raise IdempotencyKeyReused(key)
                return earlier["reply"], True
            reply = command()
            self.db.idempotency_keys.insert_one(
                {"_id": key, "fingerprint": fingerprint, "reply": reply, "created_at": utcnow()}, session=self.session)
            return reply, False
        return self.atomic(work)


class Lease:
    """A time-limited claim, so that one replica at a time does a singleton job."""

    def __init__(self, db, name: str, holder: str, ttl_s: float):
        self.db, self.name, self.holder, self.ttl = db, name, holder, timedelta(seconds=ttl_s)

    def acquire(self) -> bool:
        now = utcnow()
        try:
            self.db.leases.find_one_and_update(
                {"_id": self.name, "$or": [{"holder": self.holder}, {"expires_at": {"$lt": now}}]},
                {"$set": {"holder": self.holder, "expires_at": now + self.ttl}}, upsert=True)
            return True
        except DuplicateKeyError:
            return False

    def release(self) -> None:
        self.db.leases.delete_one({"_id": self.name, "holder": self.holder})
