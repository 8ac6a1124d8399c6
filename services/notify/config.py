"""The notify service's settings, from environment variables with safe local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from services.common.config import comma_list
from services.common.messaging import consumer_queue_name

#: The platform's consumer queues (`<consumer>.<source>`), whose dead letters are watched.
CONSUMER_QUEUES = tuple(
    consumer_queue_name(c, s)
    for c, s in (
        ("review", "applications"),
        ("funding", "review"),
        ("notify", "applications"),
        ("notify", "review"),
        ("notify", "funding"),
        ("applications", "review"),
        ("review", "funding"),
    )
)


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class NotifySettings:
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "楚怡平台 <noreply@chuyi.local>"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_s: float = 10.0
    sms_provider: str = "log"  # or "package.module:Class"
    review_reminder_hours: float = 48.0
    reminder_check_s: float = 300.0
    dead_letter_check_s: float = 60.0
    dead_letter_queues: tuple[str, ...] = CONSUMER_QUEUES
    allow_private_webhooks: bool = False
    webhook_timeout_s: float = 10.0
    webhook_max_failures: int = 10
    retry_base_s: float = 10.0
    retry_max_s: float = 3600.0
    give_up_after_s: float = 3 * 86400.0
    send_poll_s: float = 1.0
    send_concurrency: int = 8
    send_lease_s: float = 120.0

    @classmethod
    def from_env(cls, environ=None) -> "NotifySettings":
        env = os.environ if environ is None else environ
        names = {
            "smtp_host": "SMTP_HOST",
            "smtp_port": "SMTP_PORT",
            "smtp_from": "SMTP_FROM",
            "smtp_starttls": "SMTP_STARTTLS",
            "smtp_ssl": "SMTP_SSL",
            "smtp_username": "SMTP_USERNAME",
            "smtp_password": "SMTP_PASSWORD",
            "smtp_timeout_s": "SMTP_TIMEOUT_S",
            "sms_provider": "SMS_PROVIDER",
            "review_reminder_hours": "REVIEW_REMINDER_HOURS",
        }
        values = {}
        for field in fields(cls):
            name = names.get(field.name, f"NOTIFY_{field.name.upper()}")
            if name in env:
                values[field.name] = _convert(field.default, env[name])
        return cls(**values)


def _convert(default, text: str):
    if isinstance(default, bool):
        return _flag(text)
    if isinstance(default, tuple):
        return comma_list(text)
    if isinstance(default, (int, float)):
        return type(default)(text)
    return text or None
