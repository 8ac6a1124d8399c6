"""The tamper-evident audit log (MLPS 2.0 level 3): every state change a user makes, hash-chained.

A user's command (an RPC with an actor) that commits writes appends one record in the same
transaction (BaseStore.atomic): who (sub, role, scope claims), the operation, the entities it
wrote (`collection/_id`), the events it raised, when, and the outcome `ok`; a command whose
transaction ended without a commit (the domain refused it, or it failed) appends a record with
outcome `not_committed` and the reason's class, in a transaction of its own. Each record holds
the SHA-256 of the record before it in its chain and its own, over a canonical encoding.

Chains are per entity (the first entity the command wrote), so writers contend on a chain head
only where they already contend on the entity itself. A periodic checkpoint seals every chain
head that moved since the last one, and checkpoints are themselves chained: deleting a whole
chain, or the tail of one, is seen against the last checkpoint. What happened after the last
checkpoint and the last checkpoint itself are protected by keeping its hash outside the
database (`python -m chuyi audit verify` prints it; docs/security.md).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from marshmallow import fields, validate
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.client_session import ClientSession
from pymongo.database import Database

from . import pages
from .fields import StrictSchema, Text, UtcDateTime

RECORDS, HEADS, CHECKPOINTS = "audit_log", "audit_heads", "audit_checkpoints"
GENESIS = "0" * 64
# A checkpoint seals at most this many chain heads; the rest wait for the next one.
CHECKPOINT_BATCH = 2000
SCOPE_CLAIMS = ("institution_id", "prefecture", "sponsor", "expert_id")
OK, NOT_COMMITTED = "ok", "not_committed"

INDEXES = {
    RECORDS: [
        IndexModel([("chain", ASCENDING), ("seq", ASCENDING)], name="chain_seq", unique=True),
        IndexModel([("at", DESCENDING), ("_id", DESCENDING)], name="newest_first"),
        IndexModel([("entities", ASCENDING), ("at", DESCENDING)], name="by_entity"),
        IndexModel([("actor", ASCENDING), ("at", DESCENDING)], name="by_actor"),
    ],
    HEADS: [IndexModel([("sealed", ASCENDING)], name="unsealed")],
    CHECKPOINTS: [],
}


@dataclass(frozen=True)
class Acting:
    """Who is acting in the current worker, and through which operation."""

    actor: str
    role: str
    scope: dict[str, Any]
    operation: str
    correlation_id: str | None = None

    @classmethod
    def from_claims(cls, claims: object, operation: str, correlation_id: str | None = None) -> "Acting | None":
        if (
            not isinstance(claims, dict)
            or not isinstance(claims.get("sub"), str)
            or not isinstance(claims.get("role"), str)
        ):
            return None
        scope = {claim: str(claims[claim]) for claim in SCOPE_CLAIMS if claims.get(claim) is not None}
        return cls(claims["sub"], claims["role"], scope, operation, correlation_id)


# Set for each worker by the kernel's Tracing provider (services/common/providers.py).
acting: contextvars.ContextVar[Acting | None] = contextvars.ContextVar("acting", default=None)
operation: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_operation", default=None)


def begin(entrypoint: str, claims: object, correlation_id: str | None) -> None:
    """A worker starts: `claims` is its actor (None for events and timers, which no user makes)."""
    operation.set(entrypoint)
    acting.set(Acting.from_claims(claims, entrypoint, correlation_id))


def act_for(claims: object, correlation_id: str | None = None) -> None:
    """For an entrypoint whose actor is known only once verified (the internal HTTP entrypoints)."""
    acting.set(Acting.from_claims(claims, operation.get() or "unknown", correlation_id))


@dataclass
class Staged:
    """What the current transaction attempt wrote and raised, in order."""

    entities: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)

    def wrote(self, collection: str, ids: Iterable[Any]) -> None:
        for entity_id in ids:
            entity = f"{collection}/{entity_id}"
            if entity not in self.entities:
                self.entities.append(entity)


def _instant(value: datetime) -> str:
    if value.tzinfo is None:  # a client without tz_aware reads UTC as naive
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes a hash covers: every field but `hash`, keys sorted, instants as RFC 3339 to the ms."""

    def default(value: object) -> str:
        if isinstance(value, datetime):
            return _instant(value)
        return str(value)

    body = {key: value for key, value in document.items() if key != "hash"}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=default).encode("utf-8")


def digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def new_record(
    chain: str,
    previous: dict[str, Any] | None,
    who: Acting,
    *,
    entities: list[str],
    events: list[str],
    outcome: str,
    service: str,
    at: datetime,
    detail: str | None = None,
) -> dict[str, Any]:
    """The next record of `chain` after its head `previous` ({"seq", "hash"}, None for a new chain)."""
    record = {
        "_id": uuid.uuid4().hex,
        "chain": chain,
        "seq": (previous["seq"] if previous else 0) + 1,
        "prev": previous["hash"] if previous else GENESIS,
        "at": at,
        "service": service,
        "actor": who.actor,
        "role": who.role,
        "scope": who.scope,
        "operation": who.operation,
        "entities": entities,
        "events": events,
        "outcome": outcome,
        "detail": detail,
        "correlation_id": who.correlation_id,
    }
    record["hash"] = digest(record)
    return record


def append(
    db: Database[dict[str, Any]], session: ClientSession | None, record: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    """Write `record` and move its chain's head, inside the caller's transaction. A concurrent
    writer of the same chain conflicts on the head and retries."""
    head = {"seq": record["seq"], "hash": record["hash"], "sealed": False}
    if previous is None:
        db[HEADS].insert_one({"_id": record["chain"], **head}, session=session)
    else:
        moved = db[HEADS].update_one({"_id": record["chain"], "seq": previous["seq"]}, {"$set": head}, session=session)
        if moved.matched_count != 1:
            raise RuntimeError(f"audit chain {record['chain']} moved under the transaction")
    db[RECORDS].insert_one(record, session=session)


def head_of(db: Database[dict[str, Any]], session: ClientSession | None, chain: str) -> dict[str, Any] | None:
    return db[HEADS].find_one({"_id": chain}, {"seq": 1, "hash": 1}, session=session)


def new_checkpoint(previous: dict[str, Any] | None, heads: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    checkpoint = {
        "_id": (previous["_id"] if previous else 0) + 1,
        "prev": previous["hash"] if previous else GENESIS,
        "at": at,
        "heads": [[head["_id"], head["seq"], head["hash"]] for head in heads],
    }
    checkpoint["hash"] = digest(checkpoint)
    return checkpoint


def seal(db: Database[dict[str, Any]], session: ClientSession | None, at: datetime) -> dict[str, Any] | None:
    """Write a checkpoint of the chain heads that moved since the last one (inside the caller's
    transaction); None when none did."""
    heads = list(db[HEADS].find({"sealed": False}, session=session).sort("_id", ASCENDING).limit(CHECKPOINT_BATCH))
    if not heads:
        return None
    last = db[CHECKPOINTS].find_one({}, sort=[("_id", DESCENDING)], session=session)
    checkpoint = new_checkpoint(last, heads, at)
    db[CHECKPOINTS].insert_one(checkpoint, session=session)
    # A head moved by a writer since this transaction's snapshot is a write conflict here: retried.
    db[HEADS].update_many(
        {"_id": {"$in": [head["_id"] for head in heads]}}, {"$set": {"sealed": True}}, session=session
    )
    return checkpoint


# ------------------------------------------------------------------ verification


class Broken(Exception):
    """The first record, head or checkpoint that does not hold; the message names it."""


def verify_checkpoints(
    checkpoints: Iterable[dict[str, Any]],
) -> tuple[dict[str, Any] | None, dict[tuple[str, int], tuple[str, int]]]:
    """Walks checkpoints in order. Returns the last one and what they sealed:
    {(chain, seq): (hash, checkpoint)}. Raises Broken."""
    last, sealed = None, {}
    for checkpoint in checkpoints:
        expected = (last["_id"] if last else 0) + 1
        name = f"audit checkpoint {checkpoint.get('_id')}"
        if checkpoint.get("_id") != expected:
            raise Broken(f"{name}: expected checkpoint {expected}: one before it is missing")
        if checkpoint.get("prev") != (last["hash"] if last else GENESIS):
            raise Broken(f"{name}: its prev is not the hash of the checkpoint before it")
        if digest(checkpoint) != checkpoint.get("hash"):
            raise Broken(f"{name}: its content does not match its hash (edited)")
        for chain, seq, hashed in checkpoint.get("heads", []):
            sealed[(chain, seq)] = (hashed, checkpoint["_id"])
        last = checkpoint
    return last, sealed


def verify_chains(
    records: Iterable[dict[str, Any]], sealed: dict[tuple[str, int], tuple[str, int]]
) -> dict[str, dict[str, Any]]:
    """Walks records sorted by (chain, seq), each against the one before it and against what the
    checkpoints sealed; returns each chain's last record. Raises Broken."""
    tails: dict[str, dict[str, Any]] = {}
    unseen = dict(sealed)
    for record in records:
        chain, seq = record.get("chain"), record.get("seq")
        if not isinstance(chain, str):
            raise Broken(f"audit record {record.get('_id')}: it names no chain (edited)")
        last = tails.get(chain)
        name = f"audit record {record.get('_id')} (chain {chain}, seq {seq})"
        expected_seq = (last["seq"] if last else 0) + 1
        if seq != expected_seq:
            raise Broken(f"{name}: expected seq {expected_seq}: a record before it is missing")
        if record.get("prev") != (last["hash"] if last else GENESIS):
            raise Broken(f"{name}: its prev is not the hash of the record before it")
        if digest(record) != record.get("hash"):
            raise Broken(f"{name}: its content does not match its hash (edited)")
        seal_of = unseen.pop((chain, expected_seq), None)  # seq == expected_seq here
        if seal_of is not None and seal_of[0] != record["hash"]:
            raise Broken(f"{name}: audit checkpoint {seal_of[1]} sealed another record at this place (replaced)")
        tails[chain] = record
    for (chain, seq), (_, checkpoint) in sorted(unseen.items(), key=lambda item: item[1][1]):
        raise Broken(
            f"audit chain {chain}: audit checkpoint {checkpoint} sealed its record seq {seq}, "
            f"which is missing (deleted)"
        )
    return tails


def verify_heads(tails: dict[str, dict[str, Any]], heads: Iterable[dict[str, Any]]) -> None:
    seen = set()
    for head in heads:
        seen.add(head["_id"])
        tail = tails.get(head["_id"])
        if tail is None or (tail["seq"], tail["hash"]) != (head.get("seq"), head.get("hash")):
            ends = f"seq {tail['seq']} (record {tail['_id']})" if tail else "no record"
            raise Broken(
                f"audit chain {head['_id']}: its head says seq {head.get('seq')} but the chain ends at "
                f"{ends}: the records after it were deleted"
            )
    for chain in sorted(tails.keys() - seen):
        raise Broken(f"audit chain {chain}: it has no head")


def verify(db: Database[dict[str, Any]]) -> dict[str, Any] | None:
    """Verifies one service's audit log; returns its last checkpoint (None if none). Raises Broken."""
    last, sealed = verify_checkpoints(db[CHECKPOINTS].find({}).sort("_id", ASCENDING))
    tails = verify_chains(db[RECORDS].find({}).sort([("chain", ASCENDING), ("seq", ASCENDING)]), sealed)
    verify_heads(tails, db[HEADS].find({}))
    return last


# ------------------------------------------------------------------ reading

#: The records newest first, in every service alike, so that pages of several services merge.
NEWEST_FIRST = (("at", pages.DESCENDING), ("_id", pages.DESCENDING))


def encode_cursor(record: dict[str, Any]) -> str:
    """The place after `record` (stored, or as the audit_log RPC answers it) in newest-first order."""
    at = record["at"]
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    elif at.tzinfo is None:  # a client without tz_aware reads UTC as naive
        at = at.replace(tzinfo=timezone.utc)
    return pages.encode_cursor([at, record["_id"]])


def page(
    db: Database[dict[str, Any]],
    *,
    limit: int,
    cursor: str | None = None,
    entity: str | None = None,
    who: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Records newest first, after `cursor` (the same order in every service, so pages of several
    services merge by (at, _id))."""
    query: dict[str, Any] = {}
    if entity:
        query["entities"] = entity
    if who:
        query["actor"] = who
    if since or until:
        query["at"] = {**({"$gte": since} if since else {}), **({"$lt": until} if until else {})}
    return pages.page(db[RECORDS], query, NEWEST_FIRST, limit, cursor)[0]


MAX_PAGE_SIZE = 100


class AuditQuery(StrictSchema):
    """The audit_log RPC's filters: entity (`collection/id`, as the records name them), who acted
    (the token's `sub`), and a time range [since, until)."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    cursor = Text(max_length=512)
    entity = Text(max_length=300)
    who = Text(max_length=200)
    since = UtcDateTime()
    until = UtcDateTime()


class AuditRecordOut(StrictSchema):
    id = fields.String(attribute="_id")
    service = fields.String()
    at = UtcDateTime()
    actor = fields.String()
    role = fields.String()
    scope = fields.Dict(keys=fields.String(), values=fields.String())
    operation = fields.String()
    entities = fields.List(fields.String())
    events = fields.List(fields.String())
    outcome = fields.String()
    detail = fields.String(allow_none=True)
    chain = fields.String()
    seq = fields.Integer()
    prev = fields.String()
    hash = fields.String()
