"""Which webhook URLs are acceptable, and when a failing webhook is switched off.

A webhook makes the platform send requests where a user says: without care it becomes a
way into the platform's own network (SSRF). Only http(s) URLs are taken, without
credentials in them (services.contracts.notify.url_problem, which the gateway checks too); in
production their host must resolve to public addresses only, checked when the webhook is made
and again before each delivery (the DNS answer may change).
"""

from __future__ import annotations

import ipaddress

from services.common.bilingual import Bilingual
from services.common.errors import NotFound

ACTIVE, DISABLED, DELETED = "active", "disabled", "deleted"


class NoSuchWebhook(NotFound):
    """The recipient has no such webhook (deleted ones included)."""

    def __init__(self) -> None:
        super().__init__(Bilingual("No such webhook of yours.", "您没有这个回调地址（webhook）。"))


def address_problem(address: str) -> str | None:
    """What is wrong with sending to the IP `address` from production, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global:
        return f"resolves to {ip}, a private, loopback or reserved address"
    return None


def should_disable(consecutive_failures: int, max_failures: int) -> bool:
    return consecutive_failures >= max_failures
