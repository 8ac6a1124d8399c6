"""Benchmark: the most events per second the kernel carries from a producer's outbox to a
consumer's applied effect, against a raw kombu publish/consume loop.

In one run, on a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ, the
kernel's own test services (tests/service/kernel_services.py) run as production runs a service,
`python -m chuyi serve tests.service.kernel_services:ProducerService` (whose outbox relay
publishes) and `...:ConsumerService` (whose `@handles("producer", "recorded")` applies each event
once, in subject order, in one transaction with its record). Then:

- ours: N events staged from `--writers` threads as fast as they go, each a state change and its
  event in one transaction (`KernelStore.record`: `BaseStore.atomic` + `emit`), spread round
  robin over S subjects; the producer's relay publishes them (confirmed), the consumer applies
  them. The figure is N over the time from the first staging to the last applied (the
  consumer's own stamp of it), all stages running at once: the sustained end-to-end rate.
  Beside it, the staging rate and the consumer's applying rate (first to last applied);
  Ours runs twice on fresh services and databases: with the consumer's group commit on (the
  default EVENT_BATCH) and off (EVENT_BATCH=1, each event in its own transaction);
- same work, raw: the database and broker work of ours without the framework, the naive way:
  from the same threads, each event's writes (record, subject counter and its read, outbox document)
  in one raw pymongo transaction; a relay thread reading unsent documents, publishing each
  confirmed and marking them sent in bulk; a kombu consumer that, per message, runs the
  consumer's reads and writes (the subject's cursor read; the effect with its position, the
  processed id and the cursor written) in one raw transaction and then acks; from the first
  staging to the last applied;
- raw: the same number of CloudEvent bodies of the same size published by one kombu publisher
  (publisher confirms, persistent, mandatory) to a quorum queue of the same topology, consumed
  by a kombu consumer with manual acks (prefetch 100) at the same time; from the first publish
  to the last ack. Half runs before ours and half after, so both see the same drift.

`ratio` is ours ÷ raw broker loop, `ratio_vs_same_work` ours ÷ same work raw, `batch_speedup`
ours with group commit ÷ ours with EVENT_BATCH=1.

Every event must be applied exactly once. The last line is one JSON object.
Run: make bench-events, or .venv/bin/python bench/events.py [--events N] [--subjects S] [--writers W]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from pymongo import MongoClient
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import RawLoop, machine, next_sequence, run_threads  # noqa: E402
from services.common.config import Settings  # noqa: E402
from services.common.envelope import new_event  # noqa: E402
from services.common.clock import utcnow  # noqa: E402
from tests.service.kernel_services import KernelStore  # noqa: E402
from tests.support.servers import ServiceProcess, mongo_server, rabbit_vhost, wait_until  # noqa: E402

PRODUCER = "tests.service.kernel_services:ProducerService"
CONSUMER = "tests.service.kernel_services:ConsumerService"


def stage(db, work: list[tuple[str, int]], writers: int) -> float:
    """Each (subject, n) recorded with its event, from `writers` threads (a store each); seconds."""

    def one(item, state):
        if "store" not in state:
            state["store"] = KernelStore(db, "producer")
        state["store"].record(*item)

    seconds, _, failures = run_threads(writers, work, one)
    if failures:
        raise AssertionError(f"{len(failures)} stagings failed, e.g. {failures[0]}")
    return seconds


def raw_seconds(amqp_uri: str, events: int) -> float:
    """Seconds from the first confirmed publish of `events` bodies to the last one acked."""
    bodies = [
        (event.id, json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        for event in (
            new_event("producer", "recorded", f"subject-{n:04d}", {"n": n}, sequence=1) for n in range(events)
        )
    ]
    received, lock, done = set(), threading.Lock(), threading.Event()

    def on_message(message_id: str, body: bytes) -> None:
        with lock:
            received.add(message_id)
            if len(received) == len(bodies):
                done.set()

    with RawLoop(amqp_uri, on_message, source=f"raw{uuid.uuid4().hex[:6]}") as loop:
        start = time.perf_counter()
        for message_id, body in bodies:
            loop.publish(body, message_id, routing_key="recorded")
        if not done.wait(120):
            loop.check()
            raise AssertionError(f"raw loop: {len(received)} of {len(bodies)} consumed within 120s")
        return time.perf_counter() - start


def transaction(client, work) -> None:
    """`work(session)` in one raw transaction, as the kernel opens its own (snapshot, majority)."""
    with client.start_session() as session:
        session.with_transaction(work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority"))


def same_work_seconds(client, db_name: str, amqp_uri: str, work: list[tuple[str, int]], writers: int) -> float:
    """Ours' database and broker work without the framework, the naive way (see the docstring); seconds."""
    KernelStore.ensure_indexes(client[db_name])
    db, n = client[db_name], len(work)
    applied, done, last = [0], threading.Event(), [0.0]

    def stage(item, state):
        subject, k = item

        def writes(s):
            db.records.insert_one({"subject": subject, "n": k}, session=s)
            sequence = next_sequence(db.subject_sequences, subject, s)
            event = new_event("producer", "recorded", subject, {"n": k}, sequence=sequence)
            db.outbox.insert_one(
                {
                    "_id": event.id,
                    "subject": subject,
                    "sequence": event.sequence,
                    "name": "recorded",
                    "event": event.to_dict(),
                    "staged_at": utcnow(),
                    "sent_at": None,
                    "attempts": 0,
                },
                session=s,
            )

        transaction(client, writes)

    def apply(message_id: str, body: bytes) -> None:
        event = json.loads(body)

        def writes(s):
            cursor = db.consumer_cursors.find_one({"_id": f"c:{event['subject']}"}, session=s)
            if cursor and cursor["sequence"] >= event["sequence"]:
                return  # applied before: the cursor tells a duplicate, as the kernel's does
            position = db.effects.count_documents({"subject": event["subject"]}, session=s)
            db.effects.insert_one(
                {
                    "event_id": event["id"],
                    "subject": event["subject"],
                    "sequence": event["sequence"],
                    "position": position,
                    "n": event["data"]["n"],
                },
                session=s,
            )
            db.processed_events.insert_one(
                {"_id": f"c:{event['id']}", "consumer": "c", "type": event["type"], "at": utcnow()}, session=s
            )
            db.consumer_cursors.update_one(
                {"_id": f"c:{event['subject']}"}, {"$set": {"sequence": event["sequence"]}}, upsert=True, session=s
            )

        transaction(client, writes)
        applied[0] += 1
        if applied[0] == n:
            last[0] = time.perf_counter()
            done.set()

    with RawLoop(amqp_uri, apply, source=f"same{uuid.uuid4().hex[:6]}") as loop:
        stopped = threading.Event()

        def relay():
            while not stopped.is_set():
                batch = list(db.outbox.find({"sent_at": None}).sort([("staged_at", 1), ("sequence", 1)]).limit(500))
                if not batch:
                    stopped.wait(0.01)
                    continue
                for document in batch:
                    loop.publish(
                        json.dumps(document["event"], ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                        document["_id"],
                        routing_key="recorded",
                    )
                db.outbox.update_many({"_id": {"$in": [d["_id"] for d in batch]}}, {"$set": {"sent_at": utcnow()}})

        relaying = threading.Thread(target=relay, daemon=True)
        relaying.start()
        start = time.perf_counter()
        _, _, failures = run_threads(writers, work, stage)
        if failures:
            raise AssertionError(f"same work raw: {len(failures)} stagings failed, e.g. {failures[0]}")
        if not done.wait(600):
            loop.check()
            raise AssertionError(f"same work raw: {applied[0]} of {n} applied within 600 s")
        stopped.set()
        relaying.join()
        return last[0] - start


def ours(mongo_uri: str, amqp_uri: str, tmp: Path, work: list[tuple[str, int]], writers: int, batch: str) -> dict:
    """Ours on fresh services and databases with EVENT_BATCH=`batch`: seconds end to end, staging, applying."""
    n = len(work)
    prefix = f"b{uuid.uuid4().hex[:8]}_"
    env = {
        "MONGO_URI": mongo_uri,
        "AMQP_URI": amqp_uri,
        "MONGO_DB_PREFIX": prefix,
        "EVENT_RETRY_DELAYS_MS": "200,1000",
        "RELAY_POLL_S": "0.2",
        "EVENT_BATCH": batch,
    }
    services = [ServiceProcess(target, env, tmp) for target in (CONSUMER, PRODUCER)]
    client = MongoClient(mongo_uri, tz_aware=True)
    try:
        for service in services:
            service.wait_started()
        producer, consumer = client[f"{prefix}producer"], client[f"{prefix}consumer"]
        started = time.time()
        stage_s = stage(producer, work, writers)
        wait_until(
            lambda: consumer.effects.estimated_document_count() >= n,
            timeout=900,
            interval=0.05,
            what=f"all {n} events applied",
        )
        stamps = sorted(d["at"].timestamp() for d in consumer.processed_events.find({}, {"at": 1}))
        applied = list(consumer.effects.find({}, {"n": 1, "event_id": 1}))
        unsent = producer.outbox.count_documents({"sent_at": None})
    finally:
        client.close()
        for service in services:
            service.stop()
    if sorted(e["n"] for e in applied) != list(range(n)) or len({e["event_id"] for e in applied}) != n or unsent:
        raise AssertionError(
            f"EVENT_BATCH={batch}: {len(applied)} effects for {n} events "
            f"({len({e['event_id'] for e in applied})} distinct), {unsent} unsent: not each event exactly once"
        )
    return {"end_to_end_s": stamps[-1] - started, "stage_s": stage_s, "apply_s": stamps[-1] - stamps[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument(
        "--writers", type=int, default=4, help="threads staging events (enough that staging is not what limits)"
    )
    args = parser.parse_args()
    if min(args.events, args.subjects, args.writers) < 1 or args.subjects % args.writers:
        parser.error("--events, --subjects and --writers must be at least 1, and --subjects a multiple of --writers")
    n = args.events
    at_start = machine()
    # writer w takes subjects w, w + W, ...: no two writers contend for one subject's sequence
    work = [(f"subject-{k % args.subjects:04d}", k) for k in range(n)]

    with (
        tempfile.TemporaryDirectory(prefix="bench-events-") as tmp,
        mongo_server(Path(tmp) / "data") as mongo_uri,
        rabbit_vhost() as amqp_uri,
    ):
        raw_s = raw_seconds(amqp_uri, n // 2)
        batched = ours(mongo_uri, amqp_uri, Path(tmp), work, args.writers, str(Settings().event_batch))
        client = MongoClient(mongo_uri, tz_aware=True)
        try:
            same_s = same_work_seconds(client, f"same{uuid.uuid4().hex[:6]}", amqp_uri, work, args.writers)
        finally:
            client.close()
        single = ours(mongo_uri, amqp_uri, Path(tmp), work, args.writers, "1")
        raw_s += raw_seconds(amqp_uri, n - n // 2)

    end_to_end_s = batched["end_to_end_s"]
    result = {
        "events": n,
        "subjects": args.subjects,
        "writers": args.writers,
        "event_batch": Settings().event_batch,
        "events_per_s": round(n / end_to_end_s, 1),
        "raw_events_per_s": round(n / raw_s, 1),
        "same_work_events_per_s": round(n / same_s, 1),
        "unbatched_events_per_s": round(n / single["end_to_end_s"], 1),
        "ratio": round(raw_s / end_to_end_s, 3),
        "ratio_vs_same_work": round(same_s / end_to_end_s, 3),
        "batch_speedup": round(single["end_to_end_s"] / end_to_end_s, 2),
        "staged_per_s": round(n / batched["stage_s"], 1),
        "applied_per_s": round((n - 1) / batched["apply_s"], 1),
        **at_start,
    }
    print(
        f"{n} events over {args.subjects} subjects staged from {args.writers} threads, relayed and applied "
        f"each exactly once; {at_start['cores']} cores, load average at start {at_start['load_average']}"
    )
    print(f"{'what':58s} {'seconds':>8s} {'events/s':>9s}")
    rows = [
        (f"ours, EVENT_BATCH={Settings().event_batch}: staged -> relayed -> applied", end_to_end_s),
        ("  of it: staging, atomic() + emit()", batched["stage_s"]),
        ("  of it: first to last applied by the consumer", batched["apply_s"]),
        ("ours, EVENT_BATCH=1 (each event its own transaction)", single["end_to_end_s"]),
        ("same work raw: pymongo transactions, confirmed publish, ack", same_s),
        ("raw kombu: confirmed publish -> manual ack", raw_s),
    ]
    for what, seconds in rows:
        print(f"{what:58s} {seconds:8.2f} {n / seconds:9.1f}")
    print(
        f"ours ÷ raw broker loop: {result['ratio']:.3f}; ours ÷ same work raw: {result['ratio_vs_same_work']:.3f}; "
        f"group commit ÷ EVENT_BATCH=1: {result['batch_speedup']:.2f}"
    )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
