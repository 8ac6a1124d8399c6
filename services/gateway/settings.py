"""The gateway's settings, from environment variables with safe local defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping, TypeVar

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
    max_body_bytes: int = MIB
    max_upload_bytes: int = 10 * MIB
    # Token bucket per principal and per worker process; a rate of 0 turns the limit off.
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 40
    retry_after_s: int = 5

    @property
    def jwt_algorithm(self) -> str:
        return "RS256" if self.jwt_public_key else "HS256"

    @property
    def uses_dev_secret(self) -> bool:
        return self.jwt_algorithm == "HS256" and self.jwt_secret == DEV_JWT_SECRET

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
                "GATEWAY_RPC_POOL_SIZE", int, base.rpc_pool_size,
                f"an integer from 1 to {MAX_RPC_POOL_SIZE}", lambda v: 1 <= v <= MAX_RPC_POOL_SIZE,
            ),
            ready_timeout_s=positive("GATEWAY_READY_TIMEOUT_S", float, base.ready_timeout_s),
            ready_services=read(
                "GATEWAY_READY_SERVICES", _names, base.ready_services,
                "a comma-separated list of service names", lambda v: True,
            ),
            jwt_secret=env.get("JWT_SECRET") or base.jwt_secret,
            jwt_public_key=_public_key(env),
            jwt_issuer=optional("JWT_ISSUER"),
            jwt_audience=optional("JWT_AUDIENCE"),
            jwt_leeway_s=read("JWT_LEEWAY_S", int, base.jwt_leeway_s, "an integer from 0 to 300", lambda v: 0 <= v <= 300),
            max_body_bytes=positive("GATEWAY_MAX_BODY_BYTES", int, base.max_body_bytes),
            max_upload_bytes=positive("GATEWAY_MAX_UPLOAD_BYTES", int, base.max_upload_bytes),
            rate_limit_per_s=read(
                "GATEWAY_RATE_LIMIT_PER_S", float, base.rate_limit_per_s, "a number >= 0 (0 turns the limit off)",
                lambda v: v >= 0,
            ),
            rate_limit_burst=positive("GATEWAY_RATE_LIMIT_BURST", int, base.rate_limit_burst),
            retry_after_s=positive("GATEWAY_RETRY_AFTER_S", int, base.retry_after_s),
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
