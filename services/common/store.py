"""The MongoDB side of the kernel: a repository base with transactions, the outbox,
idempotent event handling and idempotent commands.

A state change and the events it raises are written in one transaction (the outbox):
`emit()` stages an event beside the writes of the same `atomic()` block. Sequences are
per subject and taken from a counter document inside that transaction, so two writers
of one subject conflict and one retries: committed order is sequence order.
"""

from __future__ import annotations

import logging
import math
import random
import time
from contextlib import nullcontext
from datetime import timedelta
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    CollectionInvalid,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.read_concern import ReadConcern
from pymongo.client_session import ClientSession
from pymongo.results import DeleteResult, InsertManyResult, InsertOneResult, UpdateResult
from pymongo.write_concern import WriteConcern

from . import audit
from .envelope import Event, new_event
from .observability import correlation_id
from .clock import utcnow
from .outages import StoreBusy

T = TypeVar("T")
R = TypeVar("R", UpdateResult, DeleteResult)
D = TypeVar("D", bound=Mapping[str, Any] | None)
#: A service's database, as pymongo gives it: documents are open dicts.
MongoDatabase = Database[dict[str, Any]]
#: How a noting collection tells its store what a write touched: (collection, ids, session).
_Note = Callable[[str, list[Any], ClientSession | None], None]
log = logging.getLogger(__name__)

# How long a stored reply answers a retry with the same Idempotency-Key; after it the key is
# free again (the TTL index deletes it within a minute or so; a lookup ignores it at once).
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)

# Every transaction is bounded: its attempts (a write conflict or a lost connection retries it)
# stop after TRANSACTION_BUDGET_S with StoreBusy, and a commit may take MAX_COMMIT_MS at most, so a
# request is answered (or refused with a 503) well within the gateway's 10 s. A transaction left
# open by a killed process is the server's to end: transactionLifetimeLimitSeconds (10 s in
# production, docs/operations.md; 60 s, mongod's default, on the embedded server) bounds how long it
# holds its records, unless a retry under the same Idempotency-Key ends it first (CLAIM_STALE_S).
TRANSACTION_BUDGET_S = 4.0
MAX_COMMIT_MS = 2000
# A command under an Idempotency-Key first claims the key, outside its transaction, naming that
# transaction's session. A retry that finds a claim this old knows the claimant has given up or
# died (its budget and its commit are spent): it ends the claimant's session on the server
# (killSessions, which aborts the session's transaction and frees the records it held) and does
# the work itself, instead of waiting out the server's transactionLifetimeLimitSeconds. A younger
# claim is answered "in progress, retry after N s" (CommandInProgress, a 409).
CLAIM_STALE_S = TRANSACTION_BUDGET_S + MAX_COMMIT_MS / 1000 + 1
_RETRY_PAUSE_S = 0.01
_RETRY_PAUSE_CAP_S = 0.25
NAMESPACE_EXISTS = 48  # the server's code for a collection created meanwhile


def _backoff(attempt: int) -> None:
    """Full-jitter exponential backoff: writers that conflicted over one record retry at
    different moments instead of colliding again in lockstep until the budget runs out."""
    time.sleep(random.uniform(0, min(_RETRY_PAUSE_CAP_S, _RETRY_PAUSE_S * 2**attempt)))


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
    "idempotency_keys": [
        IndexModel(
            [("created_at", ASCENDING)],
            name="expire_after_24_hours",
            expireAfterSeconds=int(IDEMPOTENCY_KEY_TTL.total_seconds()),
        )
    ],
    "leases": [],
    **audit.INDEXES,
}


class OutOfOrder(Exception):
    """An event arrived before its predecessor in the subject's sequence was applied."""

    def __init__(self, consumer: str, event: Event, expected: int):
        super().__init__(f"{consumer}: {event.subject} sequence {event.sequence} arrived before {expected}")
        self.expected = expected


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key was sent again with a different request."""


class CommandInProgress(Exception):
    """The command under this Idempotency-Key is still being carried out (or was, by a process
    that died, less than CLAIM_STALE_S ago): retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"in progress; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class BaseStore:
    """A service's repository. Subclasses name their collections and `indexes`; they
    read and write through `self.session` so that their writes join `atomic()`."""

    indexes: dict[str, list[IndexModel]] = {}
    events: dict[str, Any] = {}  # event name -> marshmallow schema of its data (the service's events.py)

    def __init__(self, db: MongoDatabase, service: str, on_events_staged: Callable[[], None] = lambda: None) -> None:
        self.db = _NotingDatabase(db, self._wrote) if isinstance(db, Database) else db
        self.service = service
        self.session: ClientSession | None = None
        self._on_events_staged = on_events_staged
        self._staged = 0
        self._changes = audit.Staged()

    @classmethod
    def ensure_indexes(cls, db: MongoDatabase) -> None:
        """Create the collections and their indexes; several replicas (or a service and its
        job runner) may do it at once: a collection another has just created is left be."""
        existing = set(db.list_collection_names())
        for name, models in {**KERNEL_INDEXES, **cls.indexes}.items():
            if name not in existing:
                try:
                    db.create_collection(name)  # transactions cannot create collections on older servers
                except CollectionInvalid:  # created by another since the list
                    pass
                except OperationFailure as exc:
                    if exc.code != NAMESPACE_EXISTS:
                        raise
            if models:
                db[name].create_indexes(models)

    def reachable(self) -> bool:
        """Whether the client's monitor last saw a server it can write to (no round trip)."""
        return self.db.client.topology_description.has_writable_server()

    def atomic(self, work: Callable[[], T], session: ClientSession | None = None) -> T:
        """Run `work` in one transaction (joining the current one, if any), in `session` if given;
        retried on a transient error within TRANSACTION_BUDGET_S, then StoreBusy."""
        if self.session is not None:
            return work()
        deadline = time.monotonic() + TRANSACTION_BUDGET_S
        with nullcontext(session) if session is not None else self.db.client.start_session() as session:
            attempt = 0
            while True:
                try:
                    result = self._attempt(session, work, deadline)
                    break
                except PyMongoError as exc:
                    if not _worth_retrying(exc, deadline):
                        if exc.has_error_label("TransientTransactionError") or exc.has_error_label(
                            "UnknownTransactionCommitResult"
                        ):
                            raise StoreBusy(
                                f"the transaction did not commit within {TRANSACTION_BUDGET_S:g} s: {exc}"
                            ) from exc
                        raise
                    _backoff(attempt)
                    attempt += 1
                except Exception as refusal:
                    self._audit_refusal(refusal)
                    raise
        if self._staged:
            self._on_events_staged()
        return result

    def _attempt(self, session: ClientSession, work: Callable[[], T], deadline: float) -> T:
        session.start_transaction(
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
            max_commit_time_ms=MAX_COMMIT_MS,
        )
        self.session, self._staged, self._changes = session, 0, audit.Staged()
        try:
            result = work()
            self._audit(audit.OK)
        except BaseException:
            if session.in_transaction:
                session.abort_transaction()
            raise
        finally:
            self.session = None
        while True:
            try:
                session.commit_transaction()
                return result
            except PyMongoError as exc:
                if exc.has_error_label("UnknownTransactionCommitResult") and _worth_retrying(exc, deadline):
                    time.sleep(_RETRY_PAUSE_S)
                    continue  # a commit is idempotent: ask again
                raise

    def _wrote(self, collection: str, ids: list[Any], session: ClientSession | None) -> None:
        if session is not None and session is self.session and collection not in KERNEL_INDEXES:
            self._changes.wrote(collection, ids)

    def _audit(self, outcome: str) -> None:
        """The audit record of the user's change, in its transaction; none when no user acts
        (events, timers) or nothing but the kernel's own records was written (a replayed reply).
        A change that only raised events is recorded on its events' subjects."""
        who, changes = audit.acting.get(), self._changes
        entities = changes.entities or [f"events/{subject}" for subject in dict.fromkeys(changes.subjects)]
        if who is None or not entities:
            return
        chain = next((entity for entity in entities if not entity.endswith("/")), entities[0])
        self._append_audit(who, chain, entities, changes.events, outcome)

    def _append_audit(
        self,
        who: audit.Acting,
        chain: str,
        entities: list[str],
        events: list[str],
        outcome: str,
        detail: str | None = None,
    ) -> None:
        previous = audit.head_of(self.db, self.session, chain)
        record = audit.new_record(
            chain,
            previous,
            who,
            entities=entities,
            events=events,
            outcome=outcome,
            service=self.service,
            at=utcnow(),
            detail=detail,
        )
        audit.append(self.db, self.session, record, previous)

    def _audit_refusal(self, refusal: Exception) -> None:
        """A user's command that did not commit, recorded in a transaction of its own (on the
        actor's chain). Best effort: a database that cannot take it does not change the answer."""
        who = audit.acting.get()
        if who is None:
            return
        entities = list(self._changes.entities)
        token = audit.acting.set(None)
        try:
            self.atomic(
                lambda: self._append_audit(
                    who, f"actor/{who.role}:{who.actor}", entities, [], audit.NOT_COMMITTED, type(refusal).__name__
                )
            )
        except (PyMongoError, StoreBusy) as exc:
            log.warning("a command that did not commit could not be audited", extra={"fields": {"error": repr(exc)}})
        finally:
            audit.acting.reset(token)

    def audit_page(self, **filters: Any) -> list[dict[str, Any]]:
        """The service's audit records, newest first (audit.page). Raises pages.InvalidCursor."""
        return audit.page(self.db, **filters)

    def seal_audit(self) -> dict[str, Any] | None:
        """A checkpoint of the audit chain heads that moved since the last one (services/common/audit.py)."""
        return self.atomic(lambda: audit.seal(self.db, self.session, utcnow()))

    def emit(self, name: str, subject: str, data: dict[str, Any]) -> Event:
        """Stage an event in the outbox, inside the current transaction."""
        if self.session is None:
            raise RuntimeError("emit() outside atomic(): the event would not be written with its state change")
        if name not in self.events:
            raise ValueError(f"{name!r} is not an event of the {self.service} service")
        errors = self.events[name].validate(data)
        if errors:
            raise ValueError(f"{name} data does not fit its schema: {errors}")
        # An update by _id and a read of it, not one findAndModify: the embedded server (SecantusDB
        # 0.7.0b3) rewrites a findAndModify's filter as {_id, $and: [filter]} and scans the whole
        # collection for it, so every event got slower with every subject ever seen (a transaction
        # of it: 47 ms at 2 000 subjects, against 6 ms for these two). On MongoDB both are point
        # reads: one round trip more, except for a subject's first event, which the upsert tells.
        sequences = self.db.subject_sequences
        moved = sequences.update_one({"_id": subject}, {"$inc": {"sequence": 1}}, upsert=True, session=self.session)
        counter = None if moved.upserted_id is not None else sequences.find_one({"_id": subject}, session=self.session)
        sequence = counter["sequence"] if counter else 1
        event = new_event(self.service, name, subject, data, sequence=sequence, correlation_id=correlation_id.get())
        self.db.outbox.insert_one(
            {
                "_id": event.id,
                "subject": subject,
                "sequence": event.sequence,
                "name": name,
                "event": event.to_dict(),
                "staged_at": utcnow(),
                "sent_at": None,
                "attempts": 0,
            },
            session=self.session,
        )
        self._staged += 1
        self._changes.events.append(name)
        self._changes.subjects.append(subject)
        return event

    def handle_once(self, consumer: str, event: Event, effect: Callable[[], T]) -> bool:
        """Apply `effect` for `event` exactly once per consumer, in subject order.

        Returns False for a duplicate (already applied, or older than what was applied).
        Raises OutOfOrder when an earlier event of the subject has not been applied yet.
        """
        [outcome] = self.handle_batch(consumer, [(event, effect)])
        if isinstance(outcome, OutOfOrder):
            raise outcome
        return outcome

    def handle_batch(
        self, consumer: str, steps: list[tuple[Event, Callable[[], object]]], work_s: float = float("inf")
    ) -> list[bool | OutOfOrder]:
        """`handle_once` for each (event, effect), in the order given, in one transaction (group
        commit): each effect is written with its event's processed id and its subject's cursor,
        written in bulk. The cursors alone tell a duplicate (an event at or below its subject's
        cursor was applied: they are written together, and a cursor never expires), so they are
        the one read. Per step: True (applied), False (a duplicate), or
        OutOfOrder (not applied, nothing of it written: it waits for its predecessor). Steps
        stop being taken once their effects have run for `work_s`: the outcomes of the steps
        taken are returned, the rest are the caller's to apply next. What an effect raises is
        raised, and nothing of the batch is applied."""

        def work() -> list[bool | OutOfOrder]:
            s, started = self.session, time.monotonic()
            applied = {
                d["_id"]: d["sequence"]
                for d in self.db.consumer_cursors.find(
                    {"_id": {"$in": list({f"{consumer}:{event.subject}" for event, _ in steps})}}, session=s
                )
            }
            moved: dict[str, int] = {}
            processed: list[dict[str, Any]] = []
            outcomes: list[bool | OutOfOrder] = []
            for event, effect in steps:
                if time.monotonic() - started > work_s:
                    break
                cursor = f"{consumer}:{event.subject}"
                last = applied.get(cursor, 0)
                if event.sequence <= last:
                    outcomes.append(False)
                elif event.sequence > last + 1:
                    outcomes.append(OutOfOrder(consumer, event, last + 1))
                else:
                    effect()
                    applied[cursor] = moved[cursor] = event.sequence
                    processed.append(
                        {"_id": f"{consumer}:{event.id}", "consumer": consumer, "type": event.type, "at": utcnow()}
                    )
                    outcomes.append(True)
            if processed:
                self.db.processed_events.insert_many(processed, session=s)
                self.db.consumer_cursors.bulk_write(
                    [UpdateOne({"_id": c}, {"$set": {"sequence": n}}, upsert=True) for c, n in moved.items()], session=s
                )
            return outcomes

        return self.atomic(work)

    def once_per_key(
        self, key: str | None, fingerprint: str, command: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """Run a creating command once per idempotency key; a retry gets the first reply.

        Returns (reply, replayed). Raises IdempotencyKeyReused for the same key with another
        request, CommandInProgress while another attempt under the key may still be at work.
        """
        if key is None:
            return self.atomic(command), False
        keys = self.db.idempotency_keys
        with self.db.client.start_session() as session:
            mine = session.session_id
            while True:
                earlier = keys.find_one({"_id": key})
                if earlier and earlier["created_at"] < utcnow() - IDEMPOTENCY_KEY_TTL:
                    keys.delete_one({"_id": key, "created_at": earlier["created_at"]})
                    continue
                if earlier is None:
                    try:
                        keys.insert_one(
                            {
                                "_id": key,
                                "fingerprint": fingerprint,
                                "created_at": utcnow(),
                                "claimed_at": utcnow(),
                                "session": mine,
                            }
                        )
                    except DuplicateKeyError:
                        continue
                    break
                if earlier["fingerprint"] != fingerprint:
                    raise IdempotencyKeyReused(key)
                if "reply" in earlier:
                    return earlier["reply"], True
                if self._take_over(earlier, mine):
                    break

            def work() -> dict[str, Any]:
                claim = keys.find_one({"_id": key}, session=self.session)
                if claim is None or claim.get("session") != mine:  # a retry took the key over
                    raise CommandInProgress(math.ceil(CLAIM_STALE_S))
                reply = command()
                keys.update_one(
                    {"_id": key},
                    {"$set": {"reply": reply}, "$unset": {"session": "", "claimed_at": ""}},
                    session=self.session,
                )
                return reply

            try:
                return self.atomic(work, session), False
            except BaseException:
                try:  # nothing was done: a retry starts afresh (or, if this fails, once the claim is stale)
                    keys.delete_one({"_id": key, "session": mine})
                except PyMongoError:
                    pass
                raise

    def _take_over(self, claim: dict[str, Any], mine: Mapping[str, Any]) -> bool:
        """Take over a stale claim (see CLAIM_STALE_S); raises CommandInProgress for a fresh one."""
        age = (utcnow() - claim["claimed_at"]).total_seconds()
        if age < CLAIM_STALE_S:
            raise CommandInProgress(max(1, math.ceil(CLAIM_STALE_S - age)))
        self.db.client.admin.command("killSessions", [claim["session"]])
        taken = self.db.idempotency_keys.update_one(
            {"_id": claim["_id"], "session": claim["session"], "reply": {"$exists": False}},
            {"$set": {"session": mine, "claimed_at": utcnow()}},
        )
        return taken.modified_count == 1


class _NotingDatabase(MongoDatabase):
    """The service's database, telling its store which documents a write in a transaction touched,
    so that the audit record names them without each service saying so."""

    def __init__(self, db: MongoDatabase, note: _Note) -> None:
        super().__init__(
            db.client,
            db.name,
            codec_options=db.codec_options,
            read_preference=db.read_preference,
            write_concern=db.write_concern,
            read_concern=db.read_concern,
        )
        self._note = note

    def __getitem__(self, name: str) -> Collection[dict[str, Any]]:
        return _NotingCollection(self, name, self._note)

    def get_collection(self, name: str, *args: Any, **kwargs: Any) -> Collection[dict[str, Any]]:
        return _NotingCollection(self, name, self._note, *args, **kwargs) if args or kwargs else self[name]


def _ids_in(query: object) -> list[Any]:
    """The _ids a filter names; [""] when it names none (the entity is then `collection/`)."""
    wanted = query.get("_id") if isinstance(query, dict) else None
    if wanted is None:
        return [""]
    if isinstance(wanted, dict):
        return list(wanted["$in"]) if set(wanted) == {"$in"} else [""]
    return [wanted]


class _NotingCollection(Collection[dict[str, Any]]):
    def __init__(self, database: MongoDatabase, name: str, note: _Note, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, name, *args, **kwargs)
        self._note = note

    def insert_one(self, document: Any, *args: Any, **kwargs: Any) -> InsertOneResult:
        result = super().insert_one(document, *args, **kwargs)
        self._note(self.name, [result.inserted_id], kwargs.get("session"))
        return result

    def insert_many(self, documents: Any, *args: Any, **kwargs: Any) -> InsertManyResult:
        result = super().insert_many(documents, *args, **kwargs)
        self._note(self.name, result.inserted_ids, kwargs.get("session"))
        return result

    def _changed(self, query: object, result: R, session: ClientSession | None) -> R:
        upserted = getattr(result, "upserted_id", None)
        if upserted is not None:
            self._note(self.name, [upserted], session)
        elif result.deleted_count if isinstance(result, DeleteResult) else result.modified_count:
            self._note(self.name, _ids_in(query), session)
        return result

    def update_one(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> UpdateResult:
        return self._changed(filter, super().update_one(filter, *args, **kwargs), kwargs.get("session"))

    def update_many(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> UpdateResult:
        return self._changed(filter, super().update_many(filter, *args, **kwargs), kwargs.get("session"))

    def replace_one(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> UpdateResult:
        return self._changed(filter, super().replace_one(filter, *args, **kwargs), kwargs.get("session"))

    def delete_one(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> DeleteResult:
        return self._changed(filter, super().delete_one(filter, *args, **kwargs), kwargs.get("session"))

    def delete_many(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> DeleteResult:
        return self._changed(filter, super().delete_many(filter, *args, **kwargs), kwargs.get("session"))

    def _found(self, query: object, document: D, kwargs: Mapping[str, Any]) -> D:
        if document is not None and "_id" in document:
            self._note(self.name, [document["_id"]], kwargs.get("session"))
        elif document is not None or kwargs.get("upsert"):
            self._note(self.name, _ids_in(query), kwargs.get("session"))
        return document

    def find_one_and_update(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._found(filter, super().find_one_and_update(filter, *args, **kwargs), kwargs)

    def find_one_and_replace(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._found(filter, super().find_one_and_replace(filter, *args, **kwargs), kwargs)

    def find_one_and_delete(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._found(filter, super().find_one_and_delete(filter, *args, **kwargs), kwargs)


def _worth_retrying(exc: PyMongoError, deadline: float) -> bool:
    # A server that cannot be selected has already been waited for (serverSelectionTimeoutMS).
    transient = exc.has_error_label("TransientTransactionError") or exc.has_error_label(
        "UnknownTransactionCommitResult"
    )
    return transient and not isinstance(exc, ServerSelectionTimeoutError) and time.monotonic() < deadline


class Lease:
    """A time-limited claim, so that one replica at a time does a singleton job.

    The holder renews it well within `ttl_s` (a heartbeat); `held()` says, by this process's own
    clock, whether the last renewal still covers now, so a holder that could not renew stops
    before another replica may take over. A holder that comes back under the same identity (a
    restarted process of the same replica) takes its lease over at once."""

    def __init__(
        self, db: MongoDatabase, name: str, holder: str, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db, self.name, self.holder, self.ttl = db, name, holder, timedelta(seconds=ttl_s)
        self._clock = clock
        self._held_until = float("-inf")

    def acquire(self) -> bool:
        started, now = self._clock(), utcnow()
        try:
            self.db.leases.find_one_and_update(
                {"_id": self.name, "$or": [{"holder": self.holder}, {"expires_at": {"$lt": now}}]},
                {"$set": {"holder": self.holder, "expires_at": now + self.ttl}},
                upsert=True,
            )
        except DuplicateKeyError:
            self._held_until = float("-inf")
            return False
        self._held_until = started + self.ttl.total_seconds()
        return True

    def held(self) -> bool:
        return self._clock() < self._held_until

    def release(self) -> None:
        self._held_until = float("-inf")
        self.db.leases.delete_one({"_id": self.name, "holder": self.holder})
