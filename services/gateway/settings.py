"""The gateway's settings, from environment variables with safe local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping, TypeVar

from services.common.config import UnsafeSecret, in_development
from services.common.signed_actor import DEV_INTERNAL_SECRET

DEV_JWT_SECRET = "chuyi-dev-only-jwt-secret-change-me-0123456789"
MIB = 1024 * 1024
# kombu's producer pool holds 10 connections per process; a larger RPC pool would block on it.
MAX_RPC_POOL_SIZE = 10

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable holds a value the gateway cannot use."""


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = "amqp://guest:guest@localhost:5672/"
    rpc_timeout_s: float = 10.0
    rpc_pool_size: int = 8
    ready_timeout_s: float = 1.0
    ready_services: tuple[str, ...] = ("applications", "review", "funding", "notify")
    jwt_secret: str = DEV_JWT_SECRET
    # PEM text; when set, tokens are verified with RS256 against it and JWT_SECRET is not used.
    jwt_public_key: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: int = 30
    # A token whose expiry lies further ahead than this is refused, however it was signed.
    jwt_max_lifetime_s: int = 24 * 3600
    # CHUYI_ENV=development: the only mode that may verify with the published DEV_JWT_SECRET.
    development: bool = False
    max_body_bytes: int = MIB
    max_upload_bytes: int = 10 * MIB
    # Token bucket per principal; a rate of 0 turns the limit off. Shared by every worker and pod
    # through MongoDB when GATEWAY_RATE_LIMIT_MONGO_URI is set, else kept per worker process.
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 40
    rate_limit_mongo_uri: str | None = None
    # Routes without a token (the public notice, its PDF, the dashboard page), per client address.
    anonymous_rate_limit_per_s: float = 2.0
    anonymous_rate_limit_burst: int = 10
    # Proxies in front of the gateway that append to X-Forwarded-For (the ingress: 1); 0 trusts none.
    trusted_proxy_hops: int = 0
    retry_after_s: int = 5
    # The listener that alone answers /metrics (gunicorn binds it beside GATEWAY_BIND); loopback by default.
    metrics_bind: str = "127.0.0.1:9100"

    @property
    def metrics_port(self) -> int:
        return int(self.metrics_bind.rsplit(":", 1)[1])

    # The applications service's internal HTTP entrypoint, which materials stream through,
    # and the per-file limit the gateway enforces before streaming (the service enforces it too).
    applications_http_url: str = "http://127.0.0.1:9200"
    max_material_bytes: int = 20 * MIB
    internal_secret: str = ""

    @property
    def jwt_algorithm(self) -> str:
        return "RS256" if self.jwt_public_key else "HS256"

    @property
    def uses_dev_secret(self) -> bool:
        return self.jwt_algorithm == "HS256" and self.jwt_secret == DEV_JWT_SECRET

    def refuse_unsafe_secrets(self) -> None:
        """Raises UnsafeSecret when tokens would be verified with the published development
        secret outside development mode (anyone could mint a token for any role)."""
        if self.uses_dev_secret and not self.development:
            raise UnsafeSecret(
                "JWT_SECRET is unset or the published development secret: set JWT_SECRET (or JWT_PUBLIC_KEY), "
                "or CHUYI_ENV=development on a developer's machine"
            )
        if self.internal_secret == DEV_INTERNAL_SECRET and not self.development:
            raise UnsafeSecret(
                "INTERNAL_SIGNING_SECRET is unset or the published development secret: set it (the same value "
                "as the applications service's), or CHUYI_ENV=development on a developer's machine"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        base = cls()

        def read(name: str, parse: Callable[[str], T], default: T, rule: str, valid: Callable[[T], bool]) -> T:
            if name not in env or env[name] == "":
                return default
            try:
                value = parse(env[name])
            except ValueError:
                value = None
            if value is None or not valid(value):
                raise SettingsError(f"{name} must be {rule}, got {env[name]!r}")
            return value

        def positive(name: str, parse: Callable[[str], T], default: T) -> T:
            return read(name, parse, default, "a positive number", lambda v: v > 0)

        def optional(name: str) -> str | None:
            return env.get(name) or None

        return cls(
            amqp_uri=env.get("AMQP_URI") or base.amqp_uri,
            rpc_timeout_s=positive("GATEWAY_RPC_TIMEOUT_S", float, base.rpc_timeout_s),
            rpc_pool_size=read(
                "GATEWAY_RPC_POOL_SIZE",
                int,
                base.rpc_pool_size,
                f"an integer from 1 to {MAX_RPC_POOL_SIZE}",
                lambda v: 1 <= v <= MAX_RPC_POOL_SIZE,
            ),
            ready_timeout_s=positive("GATEWAY_READY_TIMEOUT_S", float, base.ready_timeout_s),
            ready_services=read(
                "GATEWAY_READY_SERVICES",
                _names,
                base.ready_services,
                "a comma-separated list of service names",
                lambda v: True,
            ),
            jwt_secret=env.get("JWT_SECRET") or base.jwt_secret,
            jwt_public_key=_public_key(env),
            jwt_issuer=optional("JWT_ISSUER"),
            jwt_audience=optional("JWT_AUDIENCE"),
            jwt_max_lifetime_s=positive("JWT_MAX_LIFETIME_S", int, base.jwt_max_lifetime_s),
            development=in_development(env),
            jwt_leeway_s=read(
                "JWT_LEEWAY_S", int, base.jwt_leeway_s, "an integer from 0 to 300", lambda v: 0 <= v <= 300
            ),
            max_body_bytes=positive("GATEWAY_MAX_BODY_BYTES", int, base.max_body_bytes),
            max_upload_bytes=positive("GATEWAY_MAX_UPLOAD_BYTES", int, base.max_upload_bytes),
            rate_limit_per_s=read(
                "GATEWAY_RATE_LIMIT_PER_S",
                float,
                base.rate_limit_per_s,
                "a number >= 0 (0 turns the limit off)",
                lambda v: v >= 0,
            ),
            rate_limit_burst=positive("GATEWAY_RATE_LIMIT_BURST", int, base.rate_limit_burst),
            rate_limit_mongo_uri=optional("GATEWAY_RATE_LIMIT_MONGO_URI"),
            anonymous_rate_limit_per_s=read(
                "GATEWAY_ANONYMOUS_RATE_LIMIT_PER_S",
                float,
                base.anonymous_rate_limit_per_s,
                "a number >= 0 (0 turns the limit off)",
                lambda v: v >= 0,
            ),
            anonymous_rate_limit_burst=positive(
                "GATEWAY_ANONYMOUS_RATE_LIMIT_BURST", int, base.anonymous_rate_limit_burst
            ),
            trusted_proxy_hops=read(
                "GATEWAY_TRUSTED_PROXY_HOPS",
                int,
                base.trusted_proxy_hops,
                "an integer from 0 to 5",
                lambda v: 0 <= v <= 5,
            ),
            retry_after_s=positive("GATEWAY_RETRY_AFTER_S", int, base.retry_after_s),
            metrics_bind=read(
                "GATEWAY_METRICS_BIND", str, base.metrics_bind, "HOST:PORT", lambda v: v.rpartition(":")[2].isdigit()
            ),
            applications_http_url=(env.get("APPLICATIONS_HTTP_URL") or base.applications_http_url).rstrip("/"),
            max_material_bytes=positive("MATERIALS_MAX_FILE_BYTES", int, base.max_material_bytes),
            internal_secret=env.get("INTERNAL_SIGNING_SECRET") or DEV_INTERNAL_SECRET,
        )


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _public_key(env: Mapping[str, str]) -> str | None:
    if env.get("JWT_PUBLIC_KEY"):
        # A PEM passed through a one-line variable often carries literal "\n".
        return env["JWT_PUBLIC_KEY"].replace("\\n", "\n")
    path = env.get("JWT_PUBLIC_KEY_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as pem:
            return pem.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"JWT_PUBLIC_KEY_FILE must name a readable PEM file: {exc}") from exc
