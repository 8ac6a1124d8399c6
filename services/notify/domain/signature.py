"""Webhook signatures: `Chuyi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The receiver recomputes the HMAC over the timestamp and the raw body with its secret,
compares in constant time, and refuses a timestamp too far from its clock (a replayed
request carries an old one). docs/webhooks.md shows the same check for integrators.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Chuyi-Signature"
DELIVERY_HEADER = "Chuyi-Delivery"
TOLERANCE_S = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, body: bytes, header: str, now: int, tolerance_s: int = TOLERANCE_S) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within `tolerance_s` of `now`."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(parts.get("v1", ""), _mac(secret, timestamp, body))
