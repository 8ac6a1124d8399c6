"""Settings from environment variables, with safe local defaults (12-factor)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The business services, by name, and where their nameko service classes are.
SERVICES = {
    "applications": "services.applications.service:ApplicationsService",
    "review": "services.review.service:ReviewService",
    "funding": "services.funding.service:FundingService",
    "notify": "services.notify.service:NotifyService",
}
#: What `python -m chuyi serve NAME` runs: the services, and processes that work for one of them.
RUNNABLE = {**SERVICES, "review-jobs": "services.review.service:AssignmentJobRunner"}


# Only where this is "development" may a secret fall back to its published development value.
DEVELOPMENT_SETTING = "CHUYI_ENV"


def in_development(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(DEVELOPMENT_SETTING) == "development"


class UnsafeSecret(RuntimeError):
    """A secret is missing, or is its published development value, outside development mode."""


def secret_setting(name: str, development_value: str, why: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret in `name`; its published development value only in development mode.
    Raises UnsafeSecret otherwise, saying `why` it matters: read it when a process starts."""
    env = os.environ if environ is None else environ
    secret = env.get(name) or ""
    if in_development(env):
        return secret or development_value
    if not secret or secret == development_value:
        raise UnsafeSecret(
            f"{name} must be set to a secret of its own outside development mode "
            f"({DEVELOPMENT_SETTING}=development); {why}"
        )
    return secret


def comma_list(text: str) -> tuple[str, ...]:
    """The items of a comma-separated setting, trimmed, blanks dropped: "a.b, c.d," -> ("a.b", "c.d")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in comma_list(text))


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = "amqp://guest:guest@localhost:5672/"
    mongo_uri: str = "mongodb://127.0.0.1:27117/?directConnection=true"  # the embedded server `make up` starts
    mongo_db_prefix: str = "chuyi_"
    log_level: str = "INFO"
    ops_port: int = 9100
    # Loopback unless told (Kubernetes sets 0.0.0.0 so that kubelet probes and the NetworkPolicy decide).
    ops_host: str = "127.0.0.1"
    # Where a service with internal HTTP entrypoints (applications: materials) listens.
    http_address: str = "127.0.0.1:9200"
    max_workers: int = 10
    # A failed event handler is retried after each of these delays, then dead-lettered.
    retry_delays_ms: tuple[int, ...] = (1000, 5000, 30000, 120000)
    # An event whose predecessor (by sequence) has not been applied waits this long at most.
    gap_timeout_s: float = 600.0
    # A consumer applies up to this many events in one transaction (1: each in its own), gathering
    # them for at most EVENT_BATCH_WAIT_MS after the first.
    event_batch: int = 50
    event_batch_wait_ms: int = 20
    # How many of the max_workers may apply events at once (0: half). The rest answer requests and run
    # timers, however deep a backlog of events: a request never waits behind batches of events.
    event_workers: int = 0
    # How long a request waits for an unreachable database before it is refused (a 503).
    mongo_wait_ms: int = 2000
    relay_poll_s: float = 0.5
    relay_batch: int = 500
    relay_lease_s: float = 2.0
    # Who holds the relay lease: a stable name per replica (the pod's name), so that a restarted
    # process takes its own lease over at once; empty: host, process and relay (never shared).
    relay_holder: str = ""
    # How often one replica of each service checkpoints the audit chain heads (services/common/audit.py).
    audit_checkpoint_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        base = cls()
        return cls(
            amqp_uri=env.get("AMQP_URI", base.amqp_uri),
            mongo_uri=env.get("MONGO_URI", base.mongo_uri),
            mongo_db_prefix=env.get("MONGO_DB_PREFIX", base.mongo_db_prefix),
            log_level=env.get("LOG_LEVEL", base.log_level),
            ops_port=int(env.get("OPS_PORT", base.ops_port)),
            ops_host=env.get("OPS_HOST") or base.ops_host,
            http_address=env.get("SERVICE_HTTP_ADDRESS", base.http_address),
            max_workers=int(env.get("SERVICE_MAX_WORKERS", base.max_workers)),
            retry_delays_ms=_ints(env["EVENT_RETRY_DELAYS_MS"])
            if "EVENT_RETRY_DELAYS_MS" in env
            else base.retry_delays_ms,
            gap_timeout_s=float(env.get("EVENT_GAP_TIMEOUT_S", base.gap_timeout_s)),
            event_batch=max(1, int(env.get("EVENT_BATCH", base.event_batch))),
            event_batch_wait_ms=int(env.get("EVENT_BATCH_WAIT_MS", base.event_batch_wait_ms)),
            event_workers=int(env.get("EVENT_WORKERS", base.event_workers)),
            mongo_wait_ms=int(env.get("MONGO_WAIT_MS", base.mongo_wait_ms)),
            relay_poll_s=float(env.get("RELAY_POLL_S", base.relay_poll_s)),
            relay_batch=int(env.get("RELAY_BATCH", base.relay_batch)),
            relay_lease_s=float(env.get("RELAY_LEASE_S", base.relay_lease_s)),
            relay_holder=env.get("RELAY_HOLDER", base.relay_holder),
            audit_checkpoint_s=float(env.get("AUDIT_CHECKPOINT_S", base.audit_checkpoint_s)),
        )

    @classmethod
    def for_container(cls, container: Any) -> "Settings":  # a nameko ServiceContainer (untyped)
        """The environment, overridden by the nameko container's config (how tests and `chuyi serve` set it)."""
        overrides = {k: str(v) for k, v in container.config.items() if isinstance(v, (str, int, float))}
        return cls.from_env({**os.environ, **overrides})

    @property
    def event_worker_limit(self) -> int:
        """Workers that may apply events at once: at least one, and always one left for requests."""
        return max(1, min(self.event_workers or self.max_workers // 2, self.max_workers - 1))

    def database_name(self, service: str) -> str:
        return f"{self.mongo_db_prefix}{service}"

    def nameko_config(self) -> dict[str, Any]:
        return {"AMQP_URI": self.amqp_uri, "max_workers": self.max_workers}
