"""The nameko extensions every Chuyi service is made of: its store (with the outbox
relay), request tracing, and the ops endpoint that Kubernetes probes and Prometheus
scrapes."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import eventlet
from eventlet import wsgi
from kombu import Connection
from nameko.extensions import DependencyProvider
from .rpc import rpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import MongoClient

from . import audit
from .config import Settings
from .observability import HANDLER_LATENCY, correlation_id
from .outages import QUIET_DURING_OUTAGE
from .messaging import StoreProvider
from .outbox import OutboxRelay
from .replies import ok, replying, require_role
from .store import BaseStore, Lease

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)


class MongoStore(StoreProvider):
    """Gives each worker a fresh `store_cls` on the service's own database (indexes
    ensured at start), and runs the service's outbox relay while the service runs.
    `owner`: the service whose database and outbox these are, for a process that works
    for another (review's assignment job runner); default: the container's service."""

    def __init__(self, store_cls: type[BaseStore], owner: str | None = None) -> None:
        self.store_cls = store_cls
        self.owner = owner

    def setup(self) -> None:
        self.settings = Settings.for_container(self.container)
        # A request finds an unreachable database out within MONGO_WAIT_MS (and answers 503); the
        # monitor looks every second, so readiness and relaying resume about a second after it is back.
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            self.settings.mongo_uri,
            tz_aware=True,
            serverSelectionTimeoutMS=self.settings.mongo_wait_ms,
            heartbeatFrequencyMS=1000,
        )
        self.service = self.owner or self.container.service_name
        self.db = self.client[self.settings.database_name(self.service)]
        self.store_cls.ensure_indexes(self.db)
        self.relay = OutboxRelay(self.db, self.service, self.settings)
        self.sealing_stopped = threading.Event()
        logging.getLogger("nameko.containers").addFilter(QUIET_DURING_OUTAGE)

    def start(self) -> None:
        self.relay_thread = self.container.spawn_managed_thread(self.relay.run, identifier="outbox-relay")
        self.sealer_thread = self.container.spawn_managed_thread(self.seal_audit, identifier="audit-checkpoints")

    def seal_audit(self) -> None:
        """Every AUDIT_CHECKPOINT_S, one replica checkpoints the audit chain heads that moved."""
        holder = self.settings.relay_holder or f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        lease = Lease(self.db, "audit-checkpoint", holder, self.settings.audit_checkpoint_s * 2)
        store = self.store_cls(self.db, self.service)
        while not self.sealing_stopped.wait(self.settings.audit_checkpoint_s):
            try:
                if lease.acquire():
                    store.seal_audit()
            except Exception as exc:  # the database is away: the next period seals what this one missed
                log.warning("audit checkpoint not written", extra={"fields": {"error": repr(exc)}})

    def stop(self) -> None:
        self.relay.stop()
        self.sealing_stopped.set()
        self.relay_thread.wait()  # it releases its lease through the client: close only after
        self.sealer_thread.wait()
        self.client.close()

    def kill(self) -> None:  # no waiting: the container kills its threads itself
        self.relay.stop()
        self.sealing_stopped.set()
        self.client.close()

    def get_dependency(self, worker_ctx: Any) -> BaseStore:
        return self.store_cls(self.db, self.service, on_events_staged=self.relay.wake)

    def ping(self) -> None:
        self.client.admin.command("ping")


class Tracing(DependencyProvider):  # type: ignore[misc]  # nameko is untyped
    """Carries the correlation id into the worker's logs and events; times each call."""

    def worker_setup(self, worker_ctx: Any) -> None:
        correlation_id.set(worker_ctx.context_data.get("correlation_id") or worker_ctx.call_id)
        audit.begin(worker_ctx.entrypoint.method_name, worker_ctx.kwargs.get("actor"), correlation_id.get())
        worker_ctx.started_at = time.perf_counter()

    def worker_teardown(self, worker_ctx: Any) -> None:
        HANDLER_LATENCY.labels(self.container.service_name, worker_ctx.entrypoint.method_name).observe(
            time.perf_counter() - worker_ctx.started_at
        )


class OpsEndpoint(DependencyProvider):  # type: ignore[misc]  # nameko is untyped
    """`/healthz` (the process answers), `/readyz` (broker and MongoDB answer) and
    `/metrics` on OPS_PORT; port 0 turns it off. A dependency provider only because
    nameko starts no bare extension of a service class; it gives workers nothing."""

    def setup(self) -> None:
        self.settings = Settings.for_container(self.container)
        self.server: Any = None  # an eventlet green socket (untyped)
        if self.settings.ops_port:
            self.server = eventlet.listen((self.settings.ops_host, self.settings.ops_port))

    def start(self) -> None:
        if self.server is not None:
            self.container.spawn_managed_thread(
                lambda: wsgi.server(self.server, self.app, log_output=False), identifier="ops-endpoint"
            )

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            next(d for d in self.container.dependencies if isinstance(d, MongoStore)).ping()
            checks["mongodb"] = "ok"
        except Exception as exc:
            checks["mongodb"] = f"down: {exc}"
        try:
            with Connection(self.settings.amqp_uri, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["rabbitmq"] = "ok"
        except Exception as exc:
            checks["rabbitmq"] = f"down: {exc}"
        return checks

    def app(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO")
        body: dict[str, Any]
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest()]
        if path == "/healthz":
            status, body = "200 OK", {"service": self.container.service_name, "status": "ok"}
        elif path == "/readyz":
            checks = self.readiness()
            ready = all(v == "ok" for v in checks.values())
            status = "200 OK" if ready else "503 Service Unavailable"
            body = {
                "service": self.container.service_name,
                "status": "ready" if ready else "not ready",
                "checks": checks,
            }
        else:
            status, body = "404 Not Found", {"title": "Not Found", "status": 404}
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


class ChuyiService:
    """What every business service has: tracing, the ops endpoint and a `ping` RPC
    (the gateway's readiness check). Subclasses set `name` and `store = MongoStore(...)`."""

    name: str
    store: BaseStore  # a worker's, given by the MongoStore provider

    tracing = Tracing()
    ops = OpsEndpoint()

    @rpc
    @replying()
    def audit_log(self, actor: Any, **query: Any) -> dict[str, Any]:
        """The service's audit records for the province, newest first (GET /v1/audit merges the services')."""
        require_role(actor, ("province",))
        items = self.store.audit_page(**audit.AuditQuery().load(query))  # a forged cursor: 422 naming it
        return ok({"items": audit.AuditRecordOut(many=True).dump(items)})

    @rpc
    def ping(self) -> dict[str, Any]:
        if not self.store.reachable():
            return {"service": self.name, "ok": False, "missing": "mongodb", "detail": "its database does not answer"}
        return {"service": self.name, "ok": True}
