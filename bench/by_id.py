"""Benchmark: a conditional write by `_id` as a findAndModify, against the same as an update and a
read by `_id`, on collections of growing size (the rule in docs/writing-a-service.md).

In one run, on a fresh SecantusDB wire server: for each size S, a notifications collection of S
messages; W of them marked read, each in its own transaction, once with the statement the stores
sent before (`find_one_and_update` on `_id`, recipient and unread, then a read when it matched
nothing) and once with the statements they send now (`update_one` on the same filter, then
`find_one` by `_id`: notify's `mark_read`), alternating in rounds so that the machine's load
drifts over both alike. Every mark is checked to answer the message, read.

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
from datetime import datetime, timezone
from pathlib import Path

from pymongo import MongoClient, ReturnDocument

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import machine  # noqa: E402
from tests.support.servers import mongo_server  # noqa: E402

RECIPIENT = "institution:I-1"


def find_and_modify(notifications, mine: dict, session) -> dict | None:
    doc = notifications.find_one_and_update(
        {**mine, "read_at": None},
        {"$set": {"read_at": datetime.now(timezone.utc)}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    return doc or notifications.find_one(mine, session=session)


def update_and_read(notifications, mine: dict, session) -> dict | None:
    notifications.update_one(
        {**mine, "read_at": None}, {"$set": {"read_at": datetime.now(timezone.utc)}}, session=session
    )
    return notifications.find_one(mine, session=session)


SHAPES = {"find_and_modify": find_and_modify, "update_and_read": update_and_read}


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


def measure(client, db, size: int, writes: int, rounds: int) -> dict[str, float]:
    """Writes per second of each shape on a collection of `size` messages."""
    notifications = db[f"notifications_{size}"]
    notifications.insert_many(
        [{"_id": f"ntf{i:06d}", "recipient": RECIPIENT, "read_at": None, "title": "x" * 80} for i in range(size)]
    )
    targets = [f"ntf{i:06d}" for i in range(0, size, max(1, size // (2 * writes)))][: 2 * writes]
    if len(targets) < 2 * writes:
        raise SystemExit(f"a collection of {size} cannot give {2 * writes} distinct messages: fewer --writes")
    seconds = dict.fromkeys(SHAPES, 0.0)
    per_round = len(targets) // (2 * rounds)
    for r in range(rounds):
        chunk = targets[2 * r * per_round : 2 * (r + 1) * per_round]
        for i, (name, shape) in enumerate(SHAPES.items()):
            seconds[name] += mark(client, notifications, shape, chunk[i::2])
    done = per_round * rounds
    return {name: done / s for name, s in seconds.items()}


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
            rate = measure(client, client["bench_by_id"], size, args.writes, args.rounds)
            rows.append(
                {
                    "size": size,
                    "find_and_modify_per_s": round(rate["find_and_modify"], 1),
                    "update_and_read_per_s": round(rate["update_and_read"], 1),
                    "ratio": round(rate["update_and_read"] / rate["find_and_modify"], 2),
                }
            )
            print(
                f"{size:>7} documents: update + read {rows[-1]['update_and_read_per_s']}/s, "
                f"findAndModify {rows[-1]['find_and_modify_per_s']}/s (×{rows[-1]['ratio']})"
            )
        client.close()
    print(json.dumps({"machine": at_start, "writes": args.writes, "rounds": args.rounds, "sizes": rows}))


if __name__ == "__main__":
    main()
