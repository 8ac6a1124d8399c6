"""What the bench/ scripts measure with: percentiles, drivers (rising concurrency, a fixed
rate), a process's memory from /proc, the raw broker loop that baselines are made of,
and the one-JSON-object last line every benchmark prints."""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from kombu import Connection, Consumer, Producer

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # imported by the kernel, not used here

from services.common.messaging import (  # noqa: E402
    CLOUDEVENTS_CONTENT_TYPE,
    consumer_queue,
    service_exchange,
    unrouted_topology,
)

PROC = Path("/proc")
# A benchmark's stack is a development stack on this machine: its published development secrets are allowed.
os.environ.setdefault("CHUYI_ENV", "development")


# ---------------------------------------------------------------- numbers


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1): the smallest value with at least q of them at or below it."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q}")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value ÷ baseline, or None when either is missing or the baseline is zero."""
    if value is None or not baseline:
        return None
    return value / baseline


def last_json(output: str) -> dict:
    """The JSON object on the last non-blank line of a benchmark's output."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the output is empty: no JSON last line")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the last line is not JSON ({exc.msg}): {lines[-1][:200]!r}") from None
    if not isinstance(result, dict):
        raise ValueError(f"the last line is JSON but not an object: {lines[-1][:200]!r}")
    return result


def next_sequence(sequences, subject: str, session) -> int:
    """The subject's next event sequence, by the statements `BaseStore.emit` sends (an update by
    _id and, unless it created the counter, a read of it, in the caller's transaction), for the
    same-work baselines."""
    if sequences.update_one({"_id": subject}, {"$inc": {"sequence": 1}}, upsert=True, session=session).upserted_id:
        return 1
    return sequences.find_one({"_id": subject}, session=session)["sequence"]


def machine() -> dict:
    return {"cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


# ---------------------------------------------------------------- drivers


def failure(exc: BaseException) -> str:
    """How a failed request reads in a benchmark's table: the error's type and the start of its message."""
    return f"{type(exc).__name__}: {exc}"[:200]


def run_threads(concurrency: int, work: list, one) -> tuple[float, list[float], list[str]]:
    """Do `one(item, state)` for every item from `concurrency` threads (each its own `state`
    dict; a callable left in state["close"] runs when the thread is done); (seconds, latencies
    in ms of the items that succeeded, failures). An item that raises is a failure, counted and
    described, and its thread goes on with the next item."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    chunks = [work[i::concurrency] for i in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def worker(chunk):
        state = {}
        barrier.wait()
        mine, failed = [], []
        for item in chunk:
            start = time.perf_counter()
            try:
                one(item, state)
            except Exception as exc:
                failed.append(failure(exc))
                continue
            mine.append(1000 * (time.perf_counter() - start))
        if "close" in state:
            state["close"]()
        with lock:
            latencies.extend(mine)
            failures.extend(failed)

    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, failures


def at_rate(rate: float, items: list, one: Callable, threads: int = 4) -> tuple[float, list, list[str]]:
    """Start `one(item)` for each item at `rate` per second, open loop (a slow call does not
    delay the next start while fewer than `threads` are in flight); (seconds from the first
    start to the last end, the results of the items that succeeded in item order, failures)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        futures = []
        for n, item in enumerate(items):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, item))
        results, failures = [], []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:
                failures.append(failure(exc))
    return time.perf_counter() - start, results, failures


# ---------------------------------------------------------------- memory


def status_kb(status_text: str) -> dict[str, int]:
    """The kB fields of a /proc/<pid>/status text: {"VmRSS": 51234, "VmHWM": ...}."""
    fields = {}
    for line in status_text.splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


def parent_of(stat_text: str) -> int:
    """The parent pid in a /proc/<pid>/stat text (the command name may hold spaces and parentheses)."""
    return int(stat_text[stat_text.rindex(")") + 2 :].split()[1])


def process_tree(pid: int) -> list[int]:
    """`pid` and its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(parent_of((entry / "stat").read_text()), []).append(int(entry.name))
            except (OSError, ValueError):  # gone meanwhile
                continue
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of `pid` and its descendants, summed: {"rss_mb": now, "hwm_mb": each one's peak}."""
    rss = hwm = 0
    for member in process_tree(pid):
        try:
            fields = status_kb((PROC / str(member) / "status").read_text())
        except OSError:
            continue
        rss += fields.get("VmRSS", 0)
        hwm += fields.get("VmHWM", 0)
    return {"rss_mb": rss / 1024, "hwm_mb": hwm / 1024}


class MemorySampler:
    """Samples the resident memory of named process trees every `interval` seconds in a
    thread, while inside `with`; `peak_mb[name]` is the largest sum seen."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25):
        self.pids, self.interval = pids, interval
        self.peak_mb = {name: 0.0 for name in pids}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            for name, pid in self.pids.items():
                self.peak_mb[name] = max(self.peak_mb[name], memory_mb(pid)["rss_mb"])
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- the raw broker path


class RawLoop:
    """The raw limit of a message's trip: a kombu publisher with publisher confirms
    (persistent, mandatory) and a consumer thread with manual acks, on the platform's own
    topology (a `<source>.events` topic exchange, a quorum `<sink>.<source>` queue bound
    to `#`). `on_message(message_id, body)` runs in the consumer thread before each ack."""

    def __init__(
        self,
        amqp_uri: str,
        on_message: Callable[[str, bytes], None],
        source: str = "benchraw",
        sink: str = "benchsink",
        prefetch: int = 100,
    ):
        self.amqp_uri, self.on_message, self.prefetch = amqp_uri, on_message, prefetch
        self.exchange = service_exchange(source)
        self.queue = consumer_queue(sink, source)
        self._publishing = Connection(amqp_uri, transport_options={"confirm_publish": True}, heartbeat=0)
        self._producer = Producer(self._publishing.channel())
        for entity in (*unrouted_topology(), self.exchange, self.queue):
            entity.bind(self._producer.channel).declare()
        self._stop = threading.Event()
        self._consuming = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._consume, daemon=True)
        self._thread.start()
        if not self._consuming.wait(30):
            raise RuntimeError(f"the raw consumer did not start: {self._error!r}")

    def publish(self, body: bytes, message_id: str, routing_key: str = "bench") -> None:
        self._producer.publish(
            body,
            exchange=self.exchange,
            routing_key=routing_key,
            mandatory=True,
            delivery_mode=2,
            content_type=CLOUDEVENTS_CONTENT_TYPE,
            content_encoding="utf-8",
            message_id=message_id,
            retry=False,
        )

    def _consume(self) -> None:
        def settle(message):
            body = message.body  # kombu decodes a body with a content encoding to str
            self.on_message(
                message.properties.get("message_id"), body.encode("utf-8") if isinstance(body, str) else body
            )
            message.ack()

        try:
            with (
                Connection(self.amqp_uri, heartbeat=0) as connection,
                Consumer(
                    connection,
                    queues=[self.queue],
                    on_message=settle,
                    prefetch_count=self.prefetch,
                    accept=[CLOUDEVENTS_CONTENT_TYPE],
                ),
            ):
                self._consuming.set()
                while not self._stop.is_set():
                    try:
                        connection.drain_events(timeout=0.1)
                    except TimeoutError:
                        continue
        except BaseException as exc:  # seen by the caller through check()
            self._error = exc
            self._consuming.set()

    def check(self) -> None:
        """Raise what stopped the consumer thread, if anything did."""
        if self._error is not None:
            raise RuntimeError(f"the raw consumer failed: {self._error!r}") from self._error

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._publishing.release()
        self.check()

    def __enter__(self) -> "RawLoop":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
