"""Benchmark: the transactional outbox and its relay (services/common/store.py, outbox.py).

In one run, on a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ,
with a queue bound to the service exchange (`#`, quorum) as consumers bind theirs:

- staging: N events written through ``BaseStore.atomic`` + ``emit`` (one transaction
  each, spread over S subjects), against the baseline of a raw pymongo ``insert_one`` of
  the same outbox documents (same indexes, same write concern) into another collection;
  and against the same work without the kernel: one raw pymongo transaction per event that
  moves the subject's sequence and inserts the outbox record; the three alternate in rounds,
  so that the machine's load drifts over them alike;
- relaying: ``OutboxRelay.publish_pending()`` called until no event is unsent, against
  the baseline of a raw kombu loop publishing the same bodies to the same exchange with
  publisher confirms, ``mandatory`` and persistent delivery (bodies encoded beforehand),
  half of it run just before the relay and half just after; and against the same work without
  the kernel: a raw loop that reads the unsent records in batches of the relay's size, publishes
  each the same way and marks the batch sent with one `update_many`.

Both publishers are connected and the topology declared before the clocks start. Every
message is consumed back from the queue and checked: each event exactly once, bodies
intact, and for the relay each subject's sequence in order.

Only same-run ratios mean anything on a shared machine. The last line is one JSON
object. Run: .venv/bin/python bench/relay.py [--events N] [--subjects S] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from pathlib import Path

from kombu import Connection, Consumer, Producer
from marshmallow import RAISE, Schema, fields
from pymongo import MongoClient
from pymongo.write_concern import WriteConcern

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # imported by the kernel, not used here

from bench._measure import next_sequence  # noqa: E402
from services.common.config import Settings  # noqa: E402
from services.common.envelope import Event  # noqa: E402
from services.common.messaging import (  # noqa: E402
    CLOUDEVENTS_CONTENT_TYPE,
    consumer_queue,
    declare_service_exchange,
    service_exchange,
)
from services.common.outbox import OutboxRelay  # noqa: E402
from services.common.store import KERNEL_INDEXES, BaseStore  # noqa: E402
from tests.support.servers import mongo_server, rabbit_vhost, wait_until  # noqa: E402

SERVICE = "bench"
CONSUMER = "benchsink"
EVENT_NAME = "application_submitted"
RAW_OUTBOX = "outbox_raw"
SAME_WORK_OUTBOX, SAME_WORK_SEQUENCES = "outbox_same_work", "subject_sequences_same_work"


class SubmittedData(Schema):
    class Meta:
        unknown = RAISE

    application_id = fields.String(required=True)
    n = fields.Integer(required=True, strict=True)
    prefecture = fields.String(required=True)
    title = fields.String(required=True)


class BenchStore(BaseStore):
    events = {EVENT_NAME: SubmittedData()}

    def submit(self, subject: str, n: int) -> Event:
        return self.atomic(
            lambda: self.emit(
                EVENT_NAME,
                subject,
                {
                    "application_id": subject,
                    "n": n,
                    "prefecture": "湘西土家族苗族自治州",
                    "title": "高水平专业群建设项目申报书（第二批）",
                },
            )
        )


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def stage_same_work(db, document: dict) -> None:
    """What staging one event costs the database: the subject's sequence and the outbox record,
    in one raw transaction."""

    def transaction(session):
        next_sequence(db[SAME_WORK_SEQUENCES], document["subject"], session)
        db[SAME_WORK_OUTBOX].insert_one(document, session=session)

    with db.client.start_session() as session:
        session.with_transaction(transaction, write_concern=WriteConcern("majority"))


def stage_all(store: BenchStore, events: int, subjects: int, rounds: int) -> tuple[float, float, float]:
    """Stage the events through the kernel, insert the same documents raw, and stage them as the
    same work without the kernel, alternating in rounds so that the machine's load drifts over
    the three alike; returns (kernel s, raw s, same work s)."""
    db = store.db
    for name in (RAW_OUTBOX, SAME_WORK_OUTBOX):
        db.create_collection(name)
        db[name].create_indexes(KERNEL_INDEXES["outbox"])
    raw = db.get_collection(RAW_OUTBOX, write_concern=WriteConcern("majority"))
    kernel_s = raw_s = same_s = 0.0
    for r in range(rounds):
        numbers = range(r * events // rounds, (r + 1) * events // rounds)
        ids = []
        kernel_s += timed(lambda: ids.extend(store.submit(f"application-{n % subjects:04d}", n).id for n in numbers))
        documents = list(db.outbox.find({"_id": {"$in": ids}}))
        raw_s += timed(lambda: [raw.insert_one(d) for d in documents])
        same_s += timed(lambda: [stage_same_work(db, d) for d in documents])
    return kernel_s, raw_s, same_s


def relay_all(relay: OutboxRelay, db, max_passes: int) -> tuple[float, list[float]]:
    """Drain the outbox through the relay; returns (seconds, seconds of each pass)."""
    passes = []

    def drain():
        while db.outbox.find_one({"sent_at": None}, {"_id": 1}) is not None:
            if len(passes) == max_passes:
                raise RuntimeError(
                    f"relay made no progress: {db.outbox.count_documents({'sent_at': None})} "
                    f"events still unsent after {max_passes} passes"
                )
            passes.append(timed(relay.publish_pending))

    return timed(drain), passes


def publish_raw(amqp_uri: str, messages: list[tuple[str, bytes]]) -> float:
    """The raw limit: one confirmed, mandatory, persistent publish per body, in a loop."""
    exchange = service_exchange(SERVICE)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}, heartbeat=0) as connection:
        producer = Producer(connection.channel())
        exchange.bind(producer.channel).declare()

        def loop():
            for message_id, body in messages:
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=EVENT_NAME,
                    mandatory=True,
                    delivery_mode=2,
                    content_type=CLOUDEVENTS_CONTENT_TYPE,
                    content_encoding="utf-8",
                    message_id=message_id,
                    retry=False,
                )

        return timed(loop)


def relay_same_work(amqp_uri: str, db, batch: int) -> float:
    """The relay's work without the kernel: the unsent records read in batches, in order, each
    published with confirms, the batch marked sent in one update_many."""
    exchange = service_exchange(SERVICE)
    outbox = db.get_collection(SAME_WORK_OUTBOX, write_concern=WriteConcern("majority"))
    with Connection(amqp_uri, transport_options={"confirm_publish": True}, heartbeat=0) as connection:
        producer = Producer(connection.channel())
        exchange.bind(producer.channel).declare()

        def loop():
            while documents := list(
                outbox.find({"sent_at": None}).sort([("staged_at", 1), ("sequence", 1)]).limit(batch)
            ):
                for d in documents:
                    body = json.dumps(d["event"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                    producer.publish(
                        body,
                        exchange=exchange,
                        routing_key=EVENT_NAME,
                        mandatory=True,
                        delivery_mode=2,
                        content_type=CLOUDEVENTS_CONTENT_TYPE,
                        content_encoding="utf-8",
                        message_id=d["_id"],
                        retry=False,
                    )
                outbox.update_many({"_id": {"$in": [d["_id"] for d in documents]}}, {"$set": {"sent_at": time.time()}})

        return timed(loop)


def consume(amqp_uri: str, expected: int, idle_timeout: float = 10.0) -> list[tuple[str, dict]]:
    """Everything in the sink queue, in arrival order: (message_id, decoded body)."""
    received = []
    with Connection(amqp_uri, heartbeat=0) as connection:

        def on_message(message):
            received.append((message.properties.get("message_id"), json.loads(message.body)))
            message.ack()

        with Consumer(
            connection,
            queues=[consumer_queue(CONSUMER, SERVICE)],
            on_message=on_message,
            prefetch_count=500,
            accept=[CLOUDEVENTS_CONTENT_TYPE],
        ):
            while True:  # once all are in, anything more is a duplicate: wait briefly for one
                try:
                    connection.drain_events(timeout=idle_timeout if len(received) < expected else 0.5)
                except TimeoutError:
                    return received


def check_delivery(what: str, received: list[tuple[str, dict]], documents: list[dict], *, ordered: bool) -> None:
    """Each staged event exactly once, with its body; with `ordered`, in sequence order per subject."""
    ids = [message_id for message_id, _ in received]
    by_id = {d["_id"]: d for d in documents}
    problems = []
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} duplicates")
    if set(ids) != set(by_id):
        problems.append(f"{len(set(by_id) - set(ids))} missing, {len(set(ids) - set(by_id))} unknown")
    if any(body != by_id.get(message_id, {}).get("event") for message_id, body in received):
        problems.append("bodies differ from the staged events")
    if ordered:
        seen = defaultdict(list)
        for document in (by_id[i] for i in ids if i in by_id):
            seen[document["subject"]].append(document["sequence"])
        out_of_order = [s for s, sequence in seen.items() if sequence != list(range(1, len(sequence) + 1))]
        if out_of_order:
            problems.append(f"{len(out_of_order)} subjects out of sequence order, e.g. {out_of_order[0]}")
    if problems:
        raise AssertionError(f"{what}: {'; '.join(problems)}")


def row(what: str, events: int, seconds: float, baseline: float | None) -> str:
    ratio = f"{baseline / seconds:6.2f}" if baseline else "  1.00"
    return f"{what:34s} {events:7d} {seconds:9.3f} {events / seconds:10.0f} {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4, help="alternations of kernel and raw staging")
    args = parser.parse_args()
    if min(args.events, args.subjects, args.rounds) < 1 or args.rounds > args.events:
        parser.error("--events, --subjects and --rounds must be at least 1, and --rounds at most --events")
    n = args.events

    with (
        tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp,
        mongo_server(Path(tmp) / "data") as mongo_uri,
        rabbit_vhost() as amqp_uri,
    ):
        settings = Settings(amqp_uri=amqp_uri, mongo_uri=mongo_uri)
        client = MongoClient(mongo_uri, tz_aware=True)
        db = client[settings.database_name(SERVICE)]
        BenchStore.ensure_indexes(db)
        stage_s, stage_raw_s, stage_same_s = stage_all(BenchStore(db, SERVICE), n, args.subjects, args.rounds)
        documents = list(db.outbox.find().sort([("staged_at", 1), ("sequence", 1)]))
        messages = [
            (d["_id"], json.dumps(d["event"], ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            for d in documents
        ]

        relay = OutboxRelay(db, SERVICE, settings)
        declare_service_exchange(relay.publisher, SERVICE)  # connects and binds the sink before any clock starts
        relay.publisher.declare(consumer_queue(CONSUMER, SERVICE))
        # the raw loop runs half before and half after the relay, so that both see the same drift
        half = n // 2
        raw_s = publish_raw(amqp_uri, messages[:half])
        check_delivery("raw publish", consume(amqp_uri, half), documents[:half], ordered=False)
        heartbeat = threading.Thread(
            target=relay.heartbeat, daemon=True
        )  # the relay publishes only while it holds its lease
        heartbeat.start()
        wait_until(relay.lease.held, what="the relay's lease")
        relay_s, passes = relay_all(relay, db, max_passes=4 * (n // settings.relay_batch + 2))
        relay.stop()
        heartbeat.join()
        relay.publisher.close()
        check_delivery("relay", consume(amqp_uri, n), documents, ordered=True)
        same_s = relay_same_work(amqp_uri, db, settings.relay_batch)
        check_delivery("same work relay", consume(amqp_uri, n), documents, ordered=True)
        raw_s += publish_raw(amqp_uri, messages[half:])
        check_delivery("raw publish", consume(amqp_uri, n - half), documents[half:], ordered=False)
        client.close()

    per_event_ms = [1000 * s / min(settings.relay_batch, n - i * settings.relay_batch) for i, s in enumerate(passes)]
    result = {
        "events": n,
        "subjects": args.subjects,
        "relay_batch": settings.relay_batch,
        "relay_passes": len(passes),
        "relay_events_per_s": round(n / relay_s, 1),
        "raw_events_per_s": round(n / raw_s, 1),
        "ratio": round(raw_s / relay_s, 3),
        "same_work_events_per_s": round(n / same_s, 1),
        "ratio_vs_same_work": round(same_s / relay_s, 3),
        "relay_first_pass_ms_per_event": round(per_event_ms[0], 2),
        "relay_last_pass_ms_per_event": round(per_event_ms[-1], 2),
        "stage_events_per_s": round(n / stage_s, 1),
        "raw_insert_events_per_s": round(n / stage_raw_s, 1),
        "stage_ratio": round(stage_raw_s / stage_s, 3),
        "stage_same_work_events_per_s": round(n / stage_same_s, 1),
        "stage_ratio_vs_same_work": round(stage_same_s / stage_s, 3),
    }
    print(f"{n} events over {args.subjects} subjects; every one delivered once, the relay's in order per subject")
    print(
        f"relay: {len(passes)} passes of up to {settings.relay_batch}; ms per event in the first pass "
        f"(backlog {n}) {per_event_ms[0]:.2f}, in the last {per_event_ms[-1]:.2f}"
    )
    print(f"{'what':34s} {'events':>7s} {'seconds':>9s} {'events/s':>10s} {'vs raw':>6s}")
    print(row("relay: publish_pending() drain", n, relay_s, raw_s))
    print(row("raw kombu confirmed publish", n, raw_s, None))
    print(row("same work, raw: read, publish, mark", n, same_s, None))
    print(row("relay vs the same work", n, relay_s, same_s))
    print(row("staging: atomic() + emit()", n, stage_s, stage_raw_s))
    print(row("raw pymongo insert_one", n, stage_raw_s, None))
    print(row("same work, raw: sequence + insert", n, stage_same_s, None))
    print(row("staging vs the same work", n, stage_s, stage_same_s))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
