"""Benchmark: how long the notify service takes to answer a read (the `list_inbox` RPC the gateway
sends for GET /v1/inbox) while it works through a backlog of events, against the same read idle.

On a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ, the notify service
runs as production runs it (`python -m chuyi serve notify`, from `--repo`). Ten reads are timed idle;
then `--calls` calls' lives are published at once, as applications and review publish them (each
call opened, `--apps` applications submitted and checked, its ranking and notice published), and a
read is timed every half second until the backlog is applied.

`ratio` is the median read under the backlog ÷ the median read idle. `--repo` runs the service from
another checkout: a worktree at 308df72^ shows the reads before events had a share of the workers.

The last line is one JSON object.
Run: make bench-read_under_backlog, or .venv/bin/python bench/read_under_backlog.py
     [--calls N] [--apps M] [--repo PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kombu import Connection
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import machine, percentile, ratio  # noqa: E402
from services.gateway.rpc import ClusterRpcClient  # noqa: E402
from tests.support.events import Producers  # noqa: E402
from tests.support.servers import mongo_server, rabbit_vhost, wait_until  # noqa: E402
from tests.unit.notify import samples as s  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PROVINCE = {"role": "province", "sub": "bench", "prefecture": None, "sponsor": None, "institution_id": None}
CONSUMED = [f"notify.{source}" for source in ("applications", "review")]


def publish_backlog(producers: Producers, calls: int, apps: int) -> int:
    published = 0

    def publish(name: str, subject: str, data: dict) -> None:
        nonlocal published
        producers.publish(name, subject, data)
        published += 1

    for c in range(calls):
        call = f"call-{c}"
        publish("call_opened", call, s.call_opened(call, title=f"遴选 {c}"))
        entries = [(f"app-{c}-{i}", f"I-{i}") for i in range(apps)]
        for app, institution in entries:
            publish("application_submitted", app, s.application_submitted(app, call, institution, "长沙市", app))
        for app, institution in entries:
            publish("eligibility_checked", app, s.eligibility_checked(app, call, institution, "长沙市", app))
        ranked = [s.entry(app, institution, "长沙市", rank) for rank, (app, institution) in enumerate(entries[:10], 1)]
        publish("ranking_published", call, s.ranking_published(call, ranked))
        publish("notice_published", call, s.notice_published(call, ranked))
    return published


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--apps", type=int, default=60, help="applications per call")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout the notify service runs from")
    args = parser.parse_args()

    storage = Path(tempfile.mkdtemp(prefix="bench-backlog-"))
    with mongo_server(storage / "mongo") as mongo_uri, rabbit_vhost() as amqp_uri:
        prefix = "backlog_"
        log_path = storage / "notify.log"
        env = {**os.environ, "PYTHONPATH": str(args.repo), "OPS_PORT": "0", "CHUYI_ENV": "development"}
        env.update(MONGO_URI=mongo_uri, AMQP_URI=amqp_uri, MONGO_DB_PREFIX=prefix)
        with open(log_path, "wb") as log:
            service = subprocess.Popen(
                [sys.executable, "-m", "chuyi", "serve", "notify"], cwd=args.repo, env=env, stdout=log, stderr=log
            )
        client = ClusterRpcClient(amqp_uri, timeout=60)
        broker = Connection(amqp_uri)
        try:
            wait_until(lambda: b"service started" in log_path.read_bytes(), timeout=60, what="the notify service")
            applied = MongoClient(mongo_uri)[f"{prefix}notify"].processed_events

            def read() -> float:
                started = time.monotonic()
                client.call("notify", "list_inbox", actor=PROVINCE)
                return time.monotonic() - started

            idle = [read() for _ in range(10)]
            with Producers(amqp_uri) as producers:
                events = publish_backlog(producers, args.calls, args.apps)
            channel = broker.channel()

            def waiting() -> int:  # events not yet taken (an event dead-lettered is never applied)
                return sum(channel.queue_declare(queue=q, passive=True).message_count for q in CONSUMED)

            busy, started, before = [], time.monotonic(), -1
            while (done := applied.count_documents({})) < events and (done != before or waiting()):
                busy.append(read())
                print(f"{time.monotonic() - started:6.1f} s  read {busy[-1] * 1000:7.0f} ms  applied {done}/{events}")
                before = done
                time.sleep(0.5)
            drained_s = time.monotonic() - started
        finally:
            client.close()
            broker.release()
            service.terminate()
            service.wait(30)

    idle_ms, busy_ms = percentile(idle, 0.5) * 1000, percentile(busy, 0.5) * 1000
    print(f"idle: median {idle_ms:.0f} ms; under {events} events ({drained_s:.1f} s to apply):")
    print(f"median {busy_ms:.0f} ms, p90 {percentile(busy, 0.9) * 1000:.0f} ms, max {max(busy) * 1000:.0f} ms")
    result = {
        "events": events,
        "drained_s": round(drained_s, 1),
        "reads": len(busy),
        "idle_median_ms": round(idle_ms),
        "median_ms": round(busy_ms),
        "p90_ms": round(percentile(busy, 0.9) * 1000),
        "max_ms": round(max(busy) * 1000),
        "ratio": ratio(busy_ms, idle_ms),
        "repo": str(args.repo),
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
