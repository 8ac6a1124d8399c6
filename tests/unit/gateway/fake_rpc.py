"""An in-process stand-in for the services behind the gateway, following the RPC reply contract."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from services.gateway.app import create_app
from services.gateway.rpc import ServiceUnavailable, request_context_data
from services.gateway.settings import Settings

TEST_SECRET = "test-secret-for-gateway-unit-tests-0123456789abcdef"


@dataclass
class RecordedCall:
    service: str
    method: str
    kwargs: dict
    timeout: float | None
    correlation_id: str | None


@dataclass
class FakeRpc:
    """Answers each (service, method) with its handler; `ping` answers for any service. Every call is
    recorded with the correlation id the real client would send."""

    handlers: dict[tuple[str, str], Callable[..., Any]] = field(default_factory=dict)
    calls: list[RecordedCall] = field(default_factory=list)
    broker_down: bool = False
    closed: bool = False

    def on(self, service: str, method: str, handler: Callable[..., Any]) -> None:
        self.handlers[(service, method)] = handler

    def call(self, service: str, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        self.calls.append(RecordedCall(service, method, kwargs, timeout, request_context_data().get("correlation_id")))
        if self.broker_down:
            raise ServiceUnavailable(service, "the broker cannot be reached")
        handler = self.handlers.get((service, method))
        if handler is not None:
            return handler(**kwargs)
        if method == "ping":
            return {"service": service, "ok": True}
        raise ServiceUnavailable(service, "no instance of the service is running")

    def check_broker(self, timeout: float) -> None:
        if self.broker_down:
            raise ServiceUnavailable("broker", "connection refused")

    def close(self) -> None:
        self.closed = True

    def last(self, method: str) -> RecordedCall:
        return [call for call in self.calls if call.method == method][-1]


def problem(status: int, title: str, detail: str, errors: dict | None = None) -> dict:
    body = {"title": title, "detail": detail}
    if errors:
        body["errors"] = errors
    return {"status": status, "problem": body}


class FakeApplications:
    """The applications service's first methods, in memory, as the contract describes them."""

    PROGRAMMES = [
        {
            "code": "hv-group",
            "name": "楚怡高水平高职高专专业群",
            "name_en": "high-level higher-vocational specialty group",
            "quota": 100,
            "eligible_institution_types": ["higher_vocational"],
            "selected_count": 0,
        },
    ]

    def __init__(self) -> None:
        self.institutions: dict[str, dict] = {}
        self.idempotent: dict[str, tuple[str, dict]] = {}  # key -> (fingerprint, stored reply)
        self._ids = (f"inst-{n}" for n in itertools.count(1))

    def install(self, rpc: FakeRpc) -> None:
        for method in ("list_programmes", "create_institution", "get_institution", "import_institutions"):
            rpc.on("applications", method, getattr(self, method))

    def list_programmes(self, *, actor: dict) -> dict:
        return {"status": 200, "body": {"items": self.PROGRAMMES}}

    def _once(self, key: str | None, fingerprint: str, create: Callable[[], dict]) -> dict:
        if key is None:
            return create()
        if key in self.idempotent:
            stored_fingerprint, stored = self.idempotent[key]
            if stored_fingerprint != fingerprint:
                return problem(422, "Idempotency-Key reused", "This key was used with a different body.")
            return {**stored, "replayed": True}
        reply = create()
        self.idempotent[key] = (fingerprint, reply)
        return reply

    def create_institution(
        self, *, actor: dict, institution: dict, idempotency_key: str | None, request_fingerprint: str
    ) -> dict:
        def create() -> dict:
            if any(i["name"] == institution["name"] for i in self.institutions.values()):
                return problem(409, "Conflict", "An institution of this name exists.")
            record = {"id": next(self._ids), **institution, "created_at": "2026-03-01T08:00:00+00:00"}
            self.institutions[record["id"]] = record
            return {"status": 201, "body": record}

        return self._once(idempotency_key, request_fingerprint, create)

    def get_institution(self, *, actor: dict, institution_id: str) -> dict:
        record = self.institutions.get(institution_id)
        visible = record is not None and (
            actor["role"] == "province"
            or (actor["role"] == "prefecture" and record["prefecture"] == actor["prefecture"])
            or (actor["role"] == "institution" and record["id"] == actor["institution_id"])
        )
        if not visible:
            return problem(404, "Not Found", "No such institution.")
        return {"status": 200, "body": record}

    def import_institutions(
        self, *, actor: dict, filename: str, content_b64: str, idempotency_key: str | None, request_fingerprint: str
    ) -> dict:
        rows = base64.b64decode(content_b64).decode("utf-8").splitlines()[1:] if filename.endswith(".csv") else []
        return self._once(
            idempotency_key,
            request_fingerprint,
            lambda: {
                "status": 201,
                "body": {"imported": len(rows), "institution_ids": [f"imp-{n}" for n in range(len(rows))]},
            },
        )


def gateway_settings(**overrides: Any) -> Settings:
    return Settings(
        **{"jwt_secret": TEST_SECRET, "rate_limit_per_s": 0.0, "anonymous_rate_limit_per_s": 0.0, **overrides}
    )


def create_fake_app():
    """The gateway over the in-memory applications service (gunicorn: `...fake_rpc:create_fake_app()`)."""
    rpc = FakeRpc()
    FakeApplications().install(rpc)
    # The metrics listener gunicorn binds (GATEWAY_METRICS_BIND) is the one the app answers /metrics on.
    return create_app(gateway_settings(metrics_bind=Settings.from_env().metrics_bind), rpc)
