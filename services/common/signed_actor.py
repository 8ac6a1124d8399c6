"""The verified actor handed from the gateway to a service's internal HTTP entrypoint, in one
header: `<base64url JSON claims>.<expiry, unix seconds>.<HMAC-SHA256>` under INTERNAL_SIGNING_SECRET,
which the gateway and the services share. Short-lived (a minute by default): a captured header
is of no use for long, and the internal port is not exposed outside the cluster anyway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from services.common import audit
from services.common.config import secret_setting
from services.common.observability import correlation_id

HEADER = "X-Chuyi-Actor"
DEV_INTERNAL_SECRET = "dev-only-internal-signing-secret"
LIFETIME_S = 60


class BadSignature(Exception):
    """The header is missing, malformed, forged or expired."""


def internal_secret(environ: Mapping[str, str] | None = None) -> str:
    """INTERNAL_SIGNING_SECRET; the development value only in development mode (raises UnsafeSecret)."""
    return secret_setting(
        "INTERNAL_SIGNING_SECRET",
        DEV_INTERNAL_SECRET,
        "anyone who knows the published value could act as any user on the internal port",
        environ,
    )


def _mac(secret: str, message: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode().rstrip("=")


def sign(claims: Mapping[str, Any], secret: str, now: float | None = None, lifetime_s: int = LIFETIME_S) -> str:
    body = base64.urlsafe_b64encode(json.dumps(dict(claims), sort_keys=True).encode()).decode().rstrip("=")
    message = f"{body}.{int((now or time.time()) + lifetime_s)}"
    return f"{message}.{_mac(secret, message.encode())}"


def verify(header: str | None, secret: str, now: float | None = None) -> dict[str, Any]:
    """The claims the gateway signed; they are also who the worker's audit records name (an internal
    HTTP entrypoint knows its actor only now). Raises BadSignature."""
    try:
        body, expires, mac = (header or "").split(".")
        if not hmac.compare_digest(mac, _mac(secret, f"{body}.{expires}".encode())):
            raise BadSignature("forged")
        if int(expires) < (now or time.time()):
            raise BadSignature("expired")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError) as exc:
        raise BadSignature(f"malformed: {exc}") from None
    if not isinstance(claims, dict):
        raise BadSignature("malformed claims")
    audit.act_for(claims, correlation_id.get())
    return claims
