"""Benchmark: each service's resident memory, idle and under load, beside a bare kernel service.

In one run, on a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ, the
whole platform is started as the test stack starts it (every service as `python -m chuyi serve
NAME`, the gateway under gunicorn with 2 workers), and beside it the floor: the kernel's own
test consumer (`tests.service.kernel_services:ConsumerService`: the kernel, one event handler,
the ping RPC, nothing of a business service), started the same way. Memory is VmRSS from
/proc/<pid>/status, summed over a process and its children (the gateway: master and workers).

- idle: after everything has started and `--quiet` seconds without a request;
- under load (sampled every 0.25 s, the largest sum kept): institutions imported, a call opened,
  drafts made and then submitted through the gateway from `--threads` threads, while as many
  readers list applications, experts, budget lines, the progress report (applications and
  funding) and a prefecture bureau's inbox; until notify has planned every submission's
  messages (its load is those events: review consumes them too). Bounded: `--submissions`.

Ratios: a service idle ÷ the bare kernel service idle (what the service adds to the kernel);
under load ÷ its own idle (what the load adds). The last line is one JSON object.
Run: make bench-memory, or .venv/bin/python bench/memory.py [--submissions N] [--threads T] [--quiet S]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import MemorySampler, failure, machine, memory_mb, run_threads  # noqa: E402
from bench.submit import SETUP_THREADS, draft, open_call, register, submit_one  # noqa: E402
from services.common.config import SERVICES  # noqa: E402
from tests.support.servers import ServiceProcess, mongo_server, rabbit_vhost, wait_until  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

FLOOR = "tests.service.kernel_services:ConsumerService"
GATEWAY = "gateway"
READS = (
    ("province", {}, "/v1/applications"),
    ("province", {}, "/v1/experts"),
    ("province", {}, "/v1/budgets"),
    ("province", {}, "/v1/reports/progress"),
    ("prefecture", {"prefecture": "长沙市"}, "/v1/inbox"),
)


def pids(stack: Stack, floor: ServiceProcess) -> dict[str, int]:
    return {
        **{name: process.proc.pid for name, process in stack.processes.items()},
        GATEWAY: stack.gateway.pid,
        "kernel floor": floor.proc.pid,
    }


def read_while(stack: Stack, busy: threading.Event, readers: int) -> tuple[int, list[str]]:
    """Readers cycling through the list routes of every service until `busy` is cleared; (reads made, failures)."""
    done = itertools.count()
    failures: list[str] = []

    def reader(offset: int) -> None:
        clients = [(stack.client(role, **scope), path) for role, scope, path in READS]
        for k in itertools.count(offset):
            if not busy.is_set():
                return
            client, path = clients[k % len(clients)]
            try:
                answer = client.get(stack.url(path), timeout=60)
                if answer.status_code != 200:
                    raise AssertionError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
            except Exception as exc:
                failures.append(failure(exc))
                continue
            next(done)

    with ThreadPoolExecutor(readers) as pool:
        for future in [pool.submit(reader, k) for k in range(readers)]:
            future.result()
    return next(done), failures


def load(stack: Stack, submissions: int, threads: int) -> tuple[float, int, list[str]]:
    """The submission load with readers beside it, until notify has planned every message; (seconds, reads, failures)."""
    busy = threading.Event()
    busy.set()
    with ThreadPoolExecutor(1) as background:
        reads = background.submit(read_while, stack, busy, threads)
        start = time.perf_counter()
        try:
            institutions = register(stack, submissions)
            call_id = open_call(stack)
            with ThreadPoolExecutor(SETUP_THREADS) as pool:
                drafts = list(pool.map(lambda i: draft(stack, call_id, i), institutions))
            _, submitted_ms, failures = run_threads(threads, drafts, submit_one(stack))
            notifications = stack.db("notify").notifications
            wait_until(
                lambda: notifications.count_documents({"kind": "application_submitted"}) >= 2 * len(submitted_ms),
                timeout=300,
                interval=0.5,
                what="notify to plan every submission's messages",
            )
        finally:
            busy.clear()
        reads_made, read_failures = reads.result()
        return time.perf_counter() - start, reads_made, failures + read_failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=150)
    parser.add_argument("--threads", type=int, default=4, help="submitting threads, and as many readers")
    parser.add_argument("--quiet", type=float, default=5.0, help="seconds without a request before the idle reading")
    args = parser.parse_args()
    if min(args.submissions, args.threads) < 1 or args.quiet < 0:
        parser.error("--submissions and --threads must be at least 1, --quiet not negative")
    at_start = machine()

    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        mongo_server(Path(tmp) / "data") as mongo_uri,
        rabbit_vhost() as amqp_uri,
    ):
        (Path(tmp) / "logs").mkdir()
        stack = Stack(mongo_uri, amqp_uri, Path(tmp) / "logs")
        floor = ServiceProcess(FLOOR, {**stack.env, "MONGO_DB_PREFIX": stack.prefix + "floor_"}, Path(tmp) / "logs")
        try:
            floor.wait_started()
            watched = pids(stack, floor)
            time.sleep(args.quiet)
            idle = {name: memory_mb(pid)["rss_mb"] for name, pid in watched.items()}
            with MemorySampler(watched) as sampler:
                seconds, reads, failures = load(stack, args.submissions, args.threads)
            lifetime = {name: memory_mb(pid)["hwm_mb"] for name, pid in watched.items()}
        finally:
            floor.stop()
            stack.stop()

    base = idle["kernel floor"]
    rows = {
        name: {
            "idle_mb": round(idle[name], 1),
            "load_mb": round(sampler.peak_mb[name], 1),
            "hwm_mb": round(lifetime[name], 1),
            "idle_vs_kernel": round(idle[name] / base, 2),
            "load_vs_idle": round(sampler.peak_mb[name] / idle[name], 2),
        }
        for name in watched
    }
    print(
        f"{args.submissions} submissions from {args.threads} threads with {args.threads} readers beside them "
        f"({reads} reads) in {seconds:.1f} s, {sampler.samples} samples; {at_start['cores']} cores, "
        f"load average {at_start['load_average'][0]}; {len(failures)} requests failed"
    )
    for text in sorted(set(failures)):
        print(f"  failed ×{failures.count(text)}: {text}")
    print(f"{'process (VmRSS, MB)':34s} {'idle':>7s} {'load':>7s} {'VmHWM':>7s} {'idle/kernel':>11s} {'load/idle':>9s}")
    for name, row in rows.items():
        print(
            f"{name:34s} {row['idle_mb']:7.1f} {row['load_mb']:7.1f} {row['hwm_mb']:7.1f} "
            f"{row['idle_vs_kernel']:11.2f} {row['load_vs_idle']:9.2f}"
        )
    print(
        json.dumps(
            {
                "services": rows,
                "kernel_floor_idle_mb": round(base, 1),
                "submissions": args.submissions,
                "threads": args.threads,
                "reads": reads,
                "failed": len(failures),
                "load_seconds": round(seconds, 1),
                "gateway_workers": 2,
                "services_started": list(SERVICES),
                **at_start,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
