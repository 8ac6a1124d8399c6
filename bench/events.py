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
- raw: the same number of CloudEvent bodies of the same size published by one kombu publisher
  (publisher confirms, persistent, mandatory) to a quorum queue of the same topology, consumed
  by a kombu consumer with manual acks (prefetch 100) at the same time; from the first publish
  to the last ack. Half runs before ours and half after, so both see the same drift.

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import RawLoop, machine, run_threads  # noqa: E402
from services.common.envelope import new_event  # noqa: E402
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
    seconds, _ = run_threads(writers, work, one)
    return seconds


def raw_seconds(amqp_uri: str, events: int) -> float:
    """Seconds from the first confirmed publish of `events` bodies to the last one acked."""
    bodies = [(event.id, json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
              for event in (new_event("producer", "recorded", f"subject-{n:04d}", {"n": n}, sequence=1)
                            for n in range(events))]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--writers", type=int, default=4, help="threads staging events (enough that staging is not what limits)")
    args = parser.parse_args()
    if min(args.events, args.subjects, args.writers) < 1 or args.subjects % args.writers:
        parser.error("--events, --subjects and --writers must be at least 1, and --subjects a multiple of --writers")
    n = args.events
    at_start = machine()

    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, \
            mongo_server(Path(tmp) / "data") as mongo_uri, rabbit_vhost() as amqp_uri:
        prefix = f"b{uuid.uuid4().hex[:8]}_"
        env = {"MONGO_URI": mongo_uri, "AMQP_URI": amqp_uri, "MONGO_DB_PREFIX": prefix,
               "EVENT_RETRY_DELAYS_MS": "200,1000", "RELAY_POLL_S": "0.2"}
        services = [ServiceProcess(target, env, Path(tmp)) for target in (CONSUMER, PRODUCER)]
        client = MongoClient(mongo_uri, tz_aware=True)
        try:
            for service in services:
                service.wait_started()
            producer, consumer = client[f"{prefix}producer"], client[f"{prefix}consumer"]
            raw_s = raw_seconds(amqp_uri, n // 2)
            # writer w takes subjects w, w + W, ...: no two writers contend for one subject's sequence
            work = [(f"subject-{k % args.subjects:04d}", k) for k in range(n)]
            started = time.time()
            stage_s = stage(producer, work, args.writers)
            wait_until(lambda: consumer.effects.estimated_document_count() >= n, timeout=600, interval=0.05,
                       what=f"all {n} events applied")
            stamps = sorted(d["at"].timestamp() for d in consumer.processed_events.find({}, {"at": 1}))
            applied = list(consumer.effects.find({}, {"n": 1, "event_id": 1}))
            raw_s += raw_seconds(amqp_uri, n - n // 2)
            unsent = producer.outbox.count_documents({"sent_at": None})
        finally:
            client.close()
            for service in services:
                service.stop()

    if sorted(e["n"] for e in applied) != list(range(n)) or len({e["event_id"] for e in applied}) != n or unsent:
        raise AssertionError(f"{len(applied)} effects for {n} events ({len({e['event_id'] for e in applied})} distinct), "
                             f"{unsent} unsent: not each event exactly once")
    end_to_end_s = stamps[-1] - started
    result = {
        "events": n, "subjects": args.subjects, "writers": args.writers,
        "events_per_s": round(n / end_to_end_s, 1), "raw_events_per_s": round(n / raw_s, 1),
        "ratio": round(raw_s / end_to_end_s, 3),
        "staged_per_s": round(n / stage_s, 1), "applied_per_s": round((n - 1) / (stamps[-1] - stamps[0]), 1),
        **at_start,
    }
    print(f"{n} events over {args.subjects} subjects staged from {args.writers} threads, relayed and applied "
          f"each exactly once; {at_start['cores']} cores, load average {at_start['load_average'][0]}")
    print(f"{'what':52s} {'seconds':>8s} {'events/s':>9s}")
    print(f"{'ours: staged -> relayed -> applied (end to end)':52s} {end_to_end_s:8.2f} {result['events_per_s']:9.1f}")
    print(f"{'  of it: staging, atomic() + emit()':52s} {stage_s:8.2f} {result['staged_per_s']:9.1f}")
    print(f"{'  of it: first to last applied by the consumer':52s} {stamps[-1] - stamps[0]:8.2f} {result['applied_per_s']:9.1f}")
    print(f"{'raw kombu: confirmed publish -> manual ack':52s} {raw_s:8.2f} {result['raw_events_per_s']:9.1f}")
    print(f"ours ÷ raw: {n / end_to_end_s / (n / raw_s):.3f}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
