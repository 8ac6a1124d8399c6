"""Settings from environment variables, with safe local defaults (12-factor)."""
from __future__ import annotations

import os
from dataclasses import dataclass

# The business services, by name, and where their nameko service classes are.
SERVICES = {
    "applications": "services.applications.service:ApplicationsService",
    "review": "services.review.service:ReviewService",
    "funding": "services.funding.service:FundingService",
    "notify": "services.notify.service:NotifyService",
}


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
    max_workers: int = 10
    # A failed event handler is retried after each of these delays, then dead-lettered.
    retry_delays_ms: tuple[int, ...] = (1000, 5000, 30000, 120000)
    # An event whose predecessor (by sequence) has not been applied waits this long at most.
    gap_timeout_s: float = 600.0
    relay_poll_s: float = 0.5
    relay_batch: int = 500
    relay_lease_s: float = 15.0

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        env = os.environ if environ is None else environ
        base = cls()
        return cls(
            amqp_uri=env.get("AMQP_URI", base.amqp_uri),
            mongo_uri=env.get("MONGO_URI", base.mongo_uri),
            mongo_db_prefix=env.get("MONGO_DB_PREFIX", base.mongo_db_prefix),
            log_level=env.get("LOG_LEVEL", base.log_level),
            ops_port=int(env.get("OPS_PORT", base.ops_port)),
            max_workers=int(env.get("SERVICE_MAX_WORKERS", base.max_workers)),
            retry_delays_ms=_ints(env["EVENT_RETRY_DELAYS_MS"]) if "EVENT_RETRY_DELAYS_MS" in env else base.retry_delays_ms,
            gap_timeout_s=float(env.get("EVENT_GAP_TIMEOUT_S", base.gap_timeout_s)),
            relay_poll_s=float(env.get("RELAY_POLL_S", base.relay_poll_s)),
            relay_batch=int(env.get("RELAY_BATCH", base.relay_batch)),
            relay_lease_s=float(env.get("RELAY_LEASE_S", base.relay_lease_s)),
        )

    @classmethod
    def for_container(cls, container) -> "Settings":
        """The environment, overridden by the nameko container's config (how tests and `chuyi serve` set it)."""
        overrides = {k: str(v) for k, v in container.config.items() if isinstance(v, (str, int, float))}
        return cls.from_env({**os.environ, **overrides})

    def database_name(self, service: str) -> str:
        return f"{self.mongo_db_prefix}{service}"

    def nameko_config(self) -> dict:
        return {"AMQP_URI": self.amqp_uri, "max_workers": self.max_workers}
