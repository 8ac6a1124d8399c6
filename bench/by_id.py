"""Benchmark: writes by `_id` as a findAndModify, against the same as an update and a read by
`_id`, on collections of growing size (the rule in docs/writing-a-service.md).

In one run, on a fresh SecantusDB wire server, for each size S:
- a notifications collection of S messages; W of them marked read, each in its own transaction,
  once with the statement the store sent before (`find_one_and_update` on `_id`, recipient and
  unread, then a read when it matched nothing) and once as notify's `mark_read` does now
  (`update_one` on the same filter, then `find_one` by `_id`);
- a deliveries collection of S (2W due e-mails spread among settled ones of three channels);
  W claimed, once with the statement the store sent before (`find_one_and_update` of the most
  overdue, sorted) and once as notify's `claim` does now (`find_one` of the most overdue, then
  a compare-and-set of its lease by `_id`);
each pair alternating in rounds so that the machine's load drifts over both alike, every answer
checked.

The server rewrites a findAndModify's filter as `{_id: ..., $and: [...]}`, which its planner does
not take to the `_id` index: the statement reads the whole collection. MongoDB does not; there
the ratio stays near 1 (one round trip more). Only same-run ratios mean anything on a shared
machine. The last line is one JSON object.
Run: .venv/bin/python bench/by_id.py [--sizes 100,2000,10000] [--writes W] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pymongo import MongoClient, ReturnDocument

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import machine  # noqa: E402
from services.notify.store import PENDING, NotifyStore  # noqa: E402
from tests.support.servers import mongo_server  # noqa: E402

RECIPIENT = "institution:I-1"
LEASE_S = 300


def mark_read_as_before(notifications, mine: dict, session) -> dict | None:
    doc = notifications.find_one_and_update(
        {**mine, "read_at": None},
        {"$set": {"read_at": datetime.now(timezone.utc)}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    return doc or notifications.find_one(mine, session=session)


def mark_read_now(notifications, mine: dict, session) -> dict | None:
    store = NotifyStore(notifications.database, "notify")
    store.session = session
    return store.mark_read(mine["recipient"], mine["_id"], datetime.now(timezone.utc))


def claim_as_before(deliveries, now: datetime) -> dict | None:
    return deliveries.find_one_and_update(
        {"channel": "email", "status": PENDING, "next_attempt_at": {"$lte": now}},
        {"$set": {"next_attempt_at": now + timedelta(seconds=LEASE_S), "holder": "bench"}},
        sort=[("next_attempt_at", 1)],
    )


def claim_now(deliveries, now: datetime) -> dict | None:
    return NotifyStore(deliveries.database, "notify").claim("email", "bench", now, LEASE_S)


def mark(client, notifications, shape, ids: list[str]) -> float:
    """Seconds to mark `ids` read, one transaction each; every answer checked."""
    started = time.perf_counter()
    with client.start_session() as session:
        for message_id in ids:
            doc = session.with_transaction(
                lambda s, m=message_id: shape(notifications, {"_id": m, "recipient": RECIPIENT}, s)
            )
            if doc is None or doc["_id"] != message_id or doc["read_at"] is None:
                raise AssertionError(f"{shape.__name__} answered {doc!r} for {message_id}")
    return time.perf_counter() - started


def claim(deliveries, shape, count: int, now: datetime) -> float:
    """Seconds to claim `count` due e-mails one by one; each must be the most overdue left."""
    started = time.perf_counter()
    last = None
    for _ in range(count):
        doc = shape(deliveries, now)
        if doc is None or doc["channel"] != "email" or (last is not None and doc["next_attempt_at"] < last):
            raise AssertionError(f"{shape.__name__} claimed {doc!r} after one due at {last}")
        last = doc["next_attempt_at"]
    return time.perf_counter() - started


def alternate(rounds: int, count: int, shapes: dict, run) -> dict[str, float]:
    """Per second of each shape: `count` writes of each in `rounds` rounds, one shape after the other."""
    seconds = dict.fromkeys(shapes, 0.0)
    per_round = count // rounds
    for r in range(rounds):
        for i, (name, shape) in enumerate(shapes.items()):
            seconds[name] += run(shape, r, i, per_round)
    return {name: per_round * rounds / s for name, s in seconds.items()}


def measure_marks(client, db, size: int, writes: int, rounds: int) -> dict[str, float]:
    notifications = db.notifications
    notifications.insert_many(
        [{"_id": f"ntf{i:06d}", "recipient": RECIPIENT, "read_at": None, "title": "x" * 80} for i in range(size)]
    )
    targets = [f"ntf{i:06d}" for i in range(0, size, max(1, size // (2 * writes)))][: 2 * writes]
    if len(targets) < 2 * writes:
        raise SystemExit(f"a collection of {size} cannot give {2 * writes} distinct messages: fewer --writes")
    per_round = writes // rounds

    def run(shape, r, i, n):
        chunk = targets[2 * r * per_round : 2 * (r + 1) * per_round]
        return mark(client, notifications, shape, chunk[i::2][:n])

    return alternate(rounds, writes, {"as_before": mark_read_as_before, "now": mark_read_now}, run)


def measure_claims(db, size: int, writes: int, rounds: int) -> dict[str, float]:
    deliveries = db.deliveries
    now = datetime.now(timezone.utc).replace(microsecond=0)
    every = max(1, size // (2 * writes))
    due = set(range(0, size, every))
    deliveries.insert_many(
        [
            {
                "_id": f"dlv{i:06d}",
                "origin_id": f"evt{i}",
                "recipient": RECIPIENT,
                "route": "email",
                "channel": "email" if i in due else ("email", "sms", "webhook")[i % 3],
                "status": PENDING if i in due else "sent",
                "next_attempt_at": now - timedelta(seconds=size - i),
                "attempts": 0,
            }
            for i in range(size)
        ]
    )
    count = min(writes, len(due) // 2) // rounds * rounds
    if count < rounds:
        raise SystemExit(f"a collection of {size} has {len(due)} due e-mails: too few to claim; a larger size")
    shapes = {"as_before": claim_as_before, "now": claim_now}
    return alternate(rounds, count, shapes, lambda shape, r, i, n: claim(deliveries, shape, n, now))


def row(size: int, what: str, rate: dict[str, float]) -> dict:
    return {
        "size": size,
        "write": what,
        "find_and_modify_per_s": round(rate["as_before"], 1),
        "by_id_per_s": round(rate["now"], 1),
        "ratio": round(rate["now"] / rate["as_before"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,2000,10000", help="collection sizes, comma-separated")
    parser.add_argument("--writes", type=int, default=40, help="marks of each shape at each size")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.writes < args.rounds or args.rounds < 1 or min(sizes) < 1:
        raise SystemExit("--writes must be at least --rounds, --rounds at least 1, every size at least 1")
    at_start = machine()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, mongo_server(Path(tmp) / "data") as uri:
        client = MongoClient(uri, tz_aware=True)
        for size in sizes:
            db = client[f"bench_by_id_{size}"]
            NotifyStore.ensure_indexes(db)  # notify's own indexes, as in the service
            for what, rate in (
                ("mark_read", measure_marks(client, db, size, args.writes, args.rounds)),
                ("claim", measure_claims(db, size, args.writes, args.rounds)),
            ):
                rows.append(row(size, what, rate))
                print(
                    f"{size:>7} documents, {what}: by _id {rows[-1]['by_id_per_s']}/s, "
                    f"findAndModify {rows[-1]['find_and_modify_per_s']}/s (×{rows[-1]['ratio']})"
                )
        client.close()
    print(json.dumps({"machine": at_start, "writes": args.writes, "rounds": args.rounds, "rows": rows}))


if __name__ == "__main__":
    main()
