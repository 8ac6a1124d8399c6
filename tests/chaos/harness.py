"""The fault suite's machinery (issue 16): the whole platform with parts a test can kill and
bring back, a steady workload through the public API that records every request, and the
checks of what the platform holds against that history.

- `Platform`: the stack of tests/support/stack.py on a wire server of its own (killed with -9
  and restarted on its port and storage) and behind a TCP proxy to the broker (cut and
  restored); the machine's shared RabbitMQ is never touched beyond the test's own vhost.
- `Workload`: institutions create an application, submit it, and their prefecture bureau
  recommends it, over and over; every request carries an Idempotency-Key and is retried with it
  on 503, 504, 409 idempotency-key-in-progress or a dropped connection, as a careful client would.
- `check`: every acknowledged write is present in the state its last acknowledged step says,
  each once; each submission and recommendation reached the institution's inbox exactly once;
  outboxes and queues drained, no dead letters.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from pymongo import MongoClient

from services.common.messaging import UNROUTED, Publisher, service_exchange
from tests.service.applications.support import CHANGSHA, application_body, call_body, institution_body
from tests.support.servers import BROKER, CuttableProxy, ServiceProcess, _pings, free_port, wait_until
from tests.support.stack import Stack

RETRIED = {409, 502, 503, 504}  # 409 only as idempotency-key-in-progress; 502/504 counted, not expected


class WireServer:
    """A SecantusDB server on a fixed port and storage, so that it can be killed and restarted."""

    def __init__(self, storage: Path):
        self.storage, self.port = storage, free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.proc = None
        self.start()

    def start(self) -> None:
        binary = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or "secantusd-py"
        log = open(self.storage.parent / f"secantus-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--storage-path",
                str(self.storage),
                "--sync-on-commit",
                "--log-level",
                "WARNING",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        client = MongoClient(self.uri, serverSelectionTimeoutMS=300)
        try:
            wait_until(lambda: _pings(client), timeout=30, what="the wire server")
        finally:
            client.close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class Platform:
    def __init__(self, work_dir: Path, amqp_uri: str):
        self.work_dir = work_dir
        self.wire = WireServer(work_dir / "data")
        self.proxy = CuttableProxy()
        self.amqp_uri = amqp_uri  # the broker itself, for the test's own publishing and checks
        self.vhost = amqp_uri.rsplit("/", 1)[1]
        through_proxy = amqp_uri.replace(BROKER, f"127.0.0.1:{self.proxy.port}")
        try:
            self.stack = Stack(self.wire.uri, through_proxy, work_dir, RELAY_HOLDER="")
        except BaseException:  # the wire server and the proxy of a platform that did not start are stopped
            self.proxy.cut()
            self.wire.stop()
            raise
        self.mongo = MongoClient(self.wire.uri, tz_aware=True, serverSelectionTimeoutMS=20000)

    def db(self, service: str):
        return self.mongo[f"{self.stack.prefix}{service}"]

    def restart_service(self, name: str) -> None:
        self.stack.processes[name].stop(timeout=1)
        self.stack.processes[name] = ServiceProcess(name, self.stack.env, self.work_dir).wait_started()

    def kill_service(self, name: str) -> None:
        self.stack.processes[name].proc.send_signal(signal.SIGKILL)
        self.stack.processes[name].proc.wait()

    def gateway_workers(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.stack.gateway.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def queues(self) -> dict[str, int]:
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "-p", self.vhost, "name", "messages"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = [line.split("\t") for line in listed.splitlines() if "\t" in line]
        return {name: int(count) for name, count in rows if count.isdigit()}

    def unsent(self) -> int:
        return sum(self.db(s).outbox.count_documents({"sent_at": None}) for s in self.stack.processes)

    def stop(self) -> None:
        self.stack.stop()
        self.mongo.close()
        self.proxy.cut()
        self.wire.stop()


@dataclass
class Attempt:
    op: str
    key: str
    started: float
    ended: float
    status: int | str  # the HTTP status, or the name of the connection error
    problem: str | None = None  # the problem+json type of an error answer


@dataclass
class Op:
    kind: str  # create, submit, recommend
    institution: str
    key: str
    application: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged_at: float | None = None


class Workload:
    """`clients` institutions of Changsha, each creating, submitting and having recommended one
    application after another, `pause` seconds between requests, until stopped."""

    def __init__(self, platform: Platform, clients: int, pause: float, give_up_after: float = 90):
        self.platform, self.pause, self.give_up_after = platform, pause, give_up_after
        stack = platform.stack
        province = stack.client("province")
        self.call = _ok(
            province.post(
                stack.url("/v1/calls"),
                json=call_body("master-teacher", per_institution_limit=100, prefecture_cap=10_000),
                timeout=30,
            ),
            201,
        )
        self.institutions = [
            _ok(province.post(stack.url("/v1/institutions"), json=institution_body(), timeout=30), 201)
            for _ in range(clients)
        ]
        self.bureau = stack.client("prefecture", prefecture=CHANGSHA)
        self.ops: list[Op] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i, n), daemon=True) for n, i in enumerate(self.institutions)
        ]
        self._person = iter(range(10**6))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.give_up_after + 30)

    def _run(self, institution: dict, n: int) -> None:
        session = self.platform.stack.client("institution", institution_id=institution["id"])
        while not self._stop.is_set():
            with self._lock:
                member = next(self._person)
            body = application_body(self.call["id"], team_members=[_member(member)])
            created = self._send(session, "create", institution, "/v1/applications", body, 201)
            if created is None:
                continue
            for kind, client, path, payload in (
                ("submit", session, f"/v1/applications/{created}/submit", None),
                ("recommend", self.bureau, f"/v1/applications/{created}/recommend", {}),
            ):
                time.sleep(self.pause)
                if self._send(client, kind, institution, path, payload, 200, created) is None:
                    break
            time.sleep(self.pause)

    def _send(self, session, kind, institution, path, body, expected, application=None) -> str | None:
        op = Op(kind, institution["id"], uuid.uuid4().hex, application)
        with self._lock:
            self.ops.append(op)
        url = self.platform.stack.url(path)
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline:
            started = time.monotonic()
            wait = 0.2
            try:
                response = session.post(url, json=body, headers={"Idempotency-Key": op.key}, timeout=20)
                status = response.status_code
            except requests.RequestException as exc:
                response, status = None, type(exc).__name__
            problem = None
            if response is not None and status >= 400:
                try:
                    problem = response.json().get("type")
                except ValueError:
                    problem = response.text[:80]
            op.attempts.append(Attempt(kind, op.key, started, time.monotonic(), status, problem))
            if status == expected:
                op.application = op.application or response.json()["id"]
                op.acknowledged_at = time.monotonic()
                return op.application
            if response is not None:
                # the gateway names problem types urn:chuyi:problem:<kind>
                if status not in RETRIED or (
                    status == 409 and (problem or "").rsplit(":", 1)[-1] != "idempotency-key-in-progress"
                ):
                    return None  # an answer a retry would not change: the check reports it
                wait = min(float(response.headers.get("Retry-After") or 0.2), 0.5)
            time.sleep(wait)
        return None

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return [a for op in self.ops for a in op.attempts]

    def acknowledged(self, before: float | None = None) -> list[Op]:
        with self._lock:
            return [
                op
                for op in self.ops
                if op.acknowledged_at is not None and (before is None or op.acknowledged_at < before)
            ]


def _member(n: int) -> dict:
    first17 = f"4301021980{1 + n // 28 % 12:02d}{1 + n % 28:02d}{n // 336 % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    number = first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]
    return {"name": "李华", "title": "教授", "role": "负责人", "id_number": number, "phone": "13800138000"}


def _ok(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


INBOX_KIND = {"submit": "application_submitted", "recommend": "application_recommended"}


def inbox_missing(platform: Platform, ops: list[Op]) -> int:
    """How many acknowledged submissions and recommendations have not reached their inbox yet."""
    wanted = {
        (f"institution:{op.institution}", INBOX_KIND[op.kind], op.application) for op in ops if op.kind in INBOX_KIND
    }
    if not wanted:
        return 0
    found = {
        (n["recipient"], n["kind"], n["subject"])
        for n in platform.db("notify").notifications.find(
            {"kind": {"$in": list(INBOX_KIND.values())}}, {"recipient": 1, "kind": 1, "subject": 1}
        )
    }
    return len(wanted - found)


def drained(platform: Platform, ops: list[Op]) -> bool:
    return platform.unsent() == 0 and inbox_missing(platform, ops) == 0


def backlog(platform: Platform) -> dict[str, int]:
    """Messages still in the event queues (consumer, retry and dead-letter queues), by queue."""
    return {
        name: count
        for name, count in platform.queues().items()
        if count and not name.startswith("rpc") and name != UNROUTED
    }


def settled(platform: Platform, ops: list[Op]) -> bool:
    return drained(platform, ops) and not backlog(platform)


def republish(platform: Platform, count: int) -> int:
    """Copies of the applications service's last `count` published events, on its exchange again,
    as a broker redelivery or a relay's second send would bring them."""
    sent = list(platform.db("applications").outbox.find({"sent_at": {"$ne": None}}).sort("sent_at", -1).limit(count))
    publisher = Publisher(platform.amqp_uri)
    try:
        for entry in sent:
            for _ in range(2):
                publisher.publish(
                    service_exchange("applications"), entry["name"], entry["event"], message_id=entry["event"]["id"]
                )
    finally:
        publisher.close()
    return len(sent)


def check(platform: Platform, workload: Workload) -> dict:
    """Lost, duplicated and stuck, counted against the history of acknowledged requests."""
    ops = workload.acknowledged()
    applications = platform.db("applications").applications
    stored = {
        a["_id"]: a for a in applications.find({"call_id": workload.call["id"]}, {"state": 1, "institution_id": 1})
    }
    last_step = {}
    for op in ops:
        rank = ("create", "submit", "recommend").index(op.kind)
        last_step[op.application] = max(last_step.get(op.application, 0), rank)
    expected_state = {0: "draft", 1: "submitted", 2: "recommended"}
    lost = sum(
        1 for app, rank in last_step.items() if app not in stored or stored[app]["state"] != expected_state[rank]
    )
    creates = Counter(op.institution for op in workload.ops if op.kind == "create")
    per_institution = Counter(a["institution_id"] for a in stored.values())
    duplicated = sum(max(0, per_institution[i] - creates[i]) for i in per_institution)
    inbox = Counter(
        (n["recipient"], n["kind"], n["subject"])
        for n in platform.db("notify").notifications.find({"kind": {"$in": list(INBOX_KIND.values())}})
    )
    duplicated += sum(count - 1 for count in inbox.values() if count > 1)
    lost += inbox_missing(platform, ops)
    queued = backlog(platform)
    dead = sum(count for name, count in queued.items() if name.endswith(".dead"))
    gave_up = [
        f"{op.kind} {op.application or ''}: " + ",".join(f"{a.status} {a.problem or ''}".strip() for a in op.attempts)
        for op in workload.ops
        if op.acknowledged_at is None
    ]
    return {
        "acknowledged": len(ops),
        "lost": lost,
        "duplicated": duplicated,
        "stuck": platform.unsent() + sum(queued.values()),
        "dead_letters": dead,
        "queued": queued,
        "gave_up": gave_up,
    }
