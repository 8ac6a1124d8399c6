"""Benchmark: end-to-end latency from a submission to its inbox notification, at a fixed rate.

In one run, on a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ, the
applications and notify services (`chuyi serve`) and the gateway under gunicorn are started as
the test stack starts them. Untimed: institutions of one prefecture are imported, a call opened,
and a draft made for each submission. Then:

- ours: at a fixed rate (default 5 per second, open loop), `POST /v1/applications/{id}/submit`
  through the gateway; the latency of each is from its submit call returning to its
  `application_submitted` message appearing in the prefecture bureau's inbox, as a client sees
  it: one poller reads `GET /v1/inbox` (newest first, as that bureau) every `--poll-ms`
  (reading on to older pages only while one may still hold an awaited message). So it includes up to one poll interval and
  one inbox read. Beside it, from notify's own stamp: the message's `created_at` minus the
  submit call's return (no polling in it; the message becomes visible a little after it);
- floor (the same path with nothing of ours): at the same rate, one pymongo `insert_one` (the
  state change) and a confirmed, persistent kombu publish; a consumer thread (manual acks)
  inserts one document (the notification); then one `find_one` reads it. Latency is from the
  publish returning to that read. Half of it runs before ours, half after, so both see the
  same drift of this shared machine.

Every submission must be submitted (200) and its message seen. The last line is one JSON object.
Run: make bench-e2e, or .venv/bin/python bench/e2e_latency.py [--rate R] [--seconds S] [--poll-ms P]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import RawLoop, at_rate, machine, percentile  # noqa: E402
from bench.submit import SETUP_THREADS, draft, open_call, register, submit  # noqa: E402
from tests.support.servers import mongo_server, rabbit_vhost  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

PREFECTURE = "长沙市"
KIND = "application_submitted"
PAGE = 100
SUBMITTERS = 16  # calls in flight at most: enough that a slow one does not hold back the rate


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class InboxWatch:
    """Polls one prefecture bureau's inbox in a thread; records when each awaited
    application's message is first seen (perf_counter at the answer) and its created_at."""

    def __init__(self, stack: Stack, awaited: set[str], poll_s: float):
        self.stack, self.awaited, self.poll_s = stack, awaited, poll_s
        self.client = stack.client("prefecture", prefecture=PREFECTURE)
        self.seen: dict[str, tuple[float, datetime]] = {}
        self.started: dict[str, float] = {}  # application id -> wall time its submit call started
        self.polls, self.seconds = 0, 0.0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        first = time.perf_counter()
        try:
            while not self._stop.is_set() and len(self.seen) < len(self.awaited):
                began = time.perf_counter()
                self._poll()
                self._stop.wait(max(0.0, self.poll_s - (time.perf_counter() - began)))
        except BaseException as exc:  # raised to the caller by wait()
            self.error = exc
        self.seconds = time.perf_counter() - first

    def _poll(self) -> None:
        cursor = None
        while True:
            query = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            answer = self.client.get(self.stack.url("/v1/inbox"), params=query, timeout=30)
            now = time.perf_counter()
            self.polls += 1
            answer.raise_for_status()
            page = answer.json()
            for item in page["items"]:
                if item["kind"] == KIND and item["subject"] in self.awaited and item["subject"] not in self.seen:
                    self.seen[item["subject"]] = (now, parse_time(item["created_at"]))
            cursor = page.get("next_cursor")
            if not cursor or not page["items"]:
                return
            if parse_time(page["items"][-1]["created_at"]).timestamp() < self._oldest_unseen():
                return  # newest first: an older page holds no message of a submission still awaited

    def _oldest_unseen(self) -> float:
        """When the earliest submission whose message is not seen yet started (wall time):
        its message, newest first, cannot be older than that."""
        return min((t for a, t in list(self.started.items()) if a not in self.seen), default=float("inf"))

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
        missing = self.awaited - set(self.seen)
        if missing:
            raise AssertionError(
                f"{len(missing)} of {len(self.awaited)} notifications never appeared "
                f"within {timeout:.0f}s, e.g. {sorted(missing)[0]}"
            )


def submit_all(
    stack: Stack, drafts: list[tuple[str, dict]], rate: float, started: dict[str, float]
) -> tuple[float, dict[str, tuple[float, float]], list[str]]:
    """Submit every draft at `rate`, noting in `started` when each call starts (wall time);
    (seconds, application id -> (perf_counter, wall time) at its return, failures)."""
    sessions = threading.local()

    def one(item):
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        started[item[0]] = time.time()
        submit(sessions.session, stack, item)
        return item[0], (time.perf_counter(), time.time())

    seconds, results, failures = at_rate(rate, drafts, one, threads=SUBMITTERS)
    return seconds, dict(results), failures


def floor_latencies(mongo_uri: str, amqp_uri: str, count: int, rate: float) -> list[float]:
    """The raw path at `rate`: insert + confirmed publish, consume + insert, then one read; ms each."""
    client = MongoClient(mongo_uri, tz_aware=True)
    db = client[f"bench_floor_{uuid.uuid4().hex[:6]}"]
    arrived: dict[str, threading.Event] = {}

    def on_message(message_id: str, body: bytes) -> None:
        db.notifications.insert_one({"_id": message_id, "body": body.decode("utf-8"), "created_at": time.time()})
        arrived[message_id].set()

    body = json.dumps(
        {"type": KIND, "data": {"title": "智能制造与工程机械专业群建设方案", "prefecture": PREFECTURE}},
        ensure_ascii=False,
    ).encode("utf-8")
    lock = threading.Lock()
    with RawLoop(amqp_uri, on_message) as loop:

        def one(n):
            message_id = f"floor-{uuid.uuid4().hex}"
            arrived[message_id] = threading.Event()
            db.applications.insert_one({"_id": message_id, "state": "submitted", "n": n})
            with lock:  # one publishing channel
                loop.publish(body, message_id)
            returned = time.perf_counter()
            if not arrived[message_id].wait(60):
                loop.check()
                raise AssertionError(f"{message_id} was not consumed within 60s")
            if db.notifications.find_one({"_id": message_id}) is None:
                raise AssertionError(f"{message_id} consumed but its document is not there")
            return 1000 * (time.perf_counter() - returned)

        _, latencies, failures = at_rate(rate, list(range(count)), one)
        if failures:
            raise AssertionError(f"the floor, made of the raw broker and database alone, failed: {failures[0]}")
    client.drop_database(db.name)
    client.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=5.0, help="submissions per second")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long to submit at that rate")
    parser.add_argument("--poll-ms", type=float, default=20.0, help="how often the inbox is read")
    parser.add_argument("--floor", type=int, default=100, help="round trips of the floor (half before, half after)")
    args = parser.parse_args()
    count = round(args.rate * args.seconds)
    if args.rate <= 0 or count < 1 or args.poll_ms <= 0 or args.floor < 2:
        parser.error("--rate, --seconds and --poll-ms must be positive (at least one submission), --floor at least 2")
    at_start = machine()

    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
        mongo_server(Path(tmp) / "data") as mongo_uri,
        rabbit_vhost() as amqp_uri,
    ):
        (Path(tmp) / "logs").mkdir()
        stack = Stack(mongo_uri, amqp_uri, Path(tmp) / "logs", services=("applications", "notify"))
        try:
            institutions = register(stack, count, prefectures=(PREFECTURE,))
            call_id = open_call(stack)
            with ThreadPoolExecutor(SETUP_THREADS) as pool:
                drafts = list(pool.map(lambda i: draft(stack, call_id, i), institutions))
            floor_ms = floor_latencies(mongo_uri, amqp_uri, args.floor // 2, args.rate)
            watch = InboxWatch(stack, {application_id for application_id, _ in drafts}, args.poll_ms / 1000)
            seconds, returned, failures = submit_all(stack, drafts, args.rate, watch.started)
            watch.awaited -= set(watch.started) - set(returned)  # a failed submission sends no message
            watch.wait(timeout=120)
            floor_ms += floor_latencies(mongo_uri, amqp_uri, args.floor - args.floor // 2, args.rate)
        finally:
            stack.stop()

    seen_ms = [1000 * (watch.seen[a][0] - returned[a][0]) for a in returned]
    stamped_ms = [1000 * (watch.seen[a][1].timestamp() - returned[a][1]) for a in returned]
    read_every_ms = 1000 * watch.seconds / watch.polls
    figures = {
        "p50_ms": percentile(seen_ms, 0.5),
        "p99_ms": percentile(seen_ms, 0.99),
        "max_ms": max(seen_ms),
        "created_at_p50_ms": percentile(stamped_ms, 0.5),
        "created_at_p99_ms": percentile(stamped_ms, 0.99),
        "floor_p50_ms": percentile(floor_ms, 0.5),
        "floor_p99_ms": percentile(floor_ms, 0.99),
    }
    print(
        f"{count} submissions through the gateway at {args.rate:g}/s (achieved {count / seconds:.2f}/s), "
        f"each one answered 200 has its {KIND} seen in {PREFECTURE}'s inbox; inbox read every {args.poll_ms:g} ms "
        f"at most ({watch.polls} reads, one every {read_every_ms:.0f} ms on average); "
        f"floor: {len(floor_ms)} raw round trips at the same rate; "
        f"{at_start['cores']} cores, load average {at_start['load_average'][0]}; {len(failures)} submissions failed"
    )
    for text in sorted(set(failures)):
        print(f"  failed ×{failures.count(text)}: {text}")
    print(f"{'latency, ms':44s} {'p50':>8s} {'p99':>8s}")
    print(f"{'submit returned -> seen in the inbox (polled)':44s} {figures['p50_ms']:8.1f} {figures['p99_ms']:8.1f}")
    print(
        f"{'submit returned -> notify created_at':44s} {figures['created_at_p50_ms']:8.1f} {figures['created_at_p99_ms']:8.1f}"
    )
    print(
        f"{'floor: publish -> consumed, inserted, read':44s} {figures['floor_p50_ms']:8.1f} {figures['floor_p99_ms']:8.1f}"
    )
    print(
        json.dumps(
            {
                **{k: round(v, 1) for k, v in figures.items()},
                "ratio_p50": round(figures["p50_ms"] / figures["floor_p50_ms"], 2),
                "ratio_p99": round(figures["p99_ms"] / figures["floor_p99_ms"], 2),
                # the floor is the same broker and database work (publish, consume, insert, read): a time, above 1 slower
                "ratio_vs_same_work": round(figures["created_at_p50_ms"] / figures["floor_p50_ms"], 2),
                "rate_per_s": args.rate,
                "achieved_rate_per_s": round(count / seconds, 2),
                "submissions": count,
                "failed": len(failures),
                "poll_ms": args.poll_ms,
                "inbox_reads": watch.polls,
                "inbox_read_every_ms": round(read_every_ms, 1),
                "floor_round_trips": len(floor_ms),
                **at_start,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
