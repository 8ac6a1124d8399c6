"""A recipient's preferences (addresses, channels per kind, quiet hours) and the routes
a notice takes: the inbox always, email and SMS where wanted and set up, each webhook
subscribed to the kind."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from services.contracts.notify import EMAIL, SMS, WEBHOOK, parse_clock

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class QuietHours:
    """Hours of the day in Asia/Shanghai when email and SMS wait; may span midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")

    def until(self, at: datetime) -> datetime | None:
        """When the quiet hours holding at `at` end (UTC), or None when `at` is not in them."""
        local = at.astimezone(SHANGHAI)
        now = local.time().replace(tzinfo=None)
        inside = self.start <= now < self.end if self.start < self.end else (now >= self.start or now < self.end)
        if not inside:
            return None
        end = datetime.combine(local.date(), self.end, SHANGHAI)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(timezone.utc)


@dataclass(frozen=True)
class Preferences:
    email: str | None = None
    phone: str | None = None
    default_channels: tuple[str, ...] = ()
    channels_by_kind: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> "Preferences":
        """From stored notification settings (as the settings schema loads them); None: inbox only."""
        if not settings:
            return cls()
        quiet = settings.get("quiet_hours")
        return cls(
            email=settings.get("email"),
            phone=settings.get("phone"),
            default_channels=tuple(settings.get("default_channels") or ()),
            channels_by_kind={k: tuple(v) for k, v in (settings.get("channels_by_kind") or {}).items()},
            quiet_hours=QuietHours(parse_clock(quiet["start"]), parse_clock(quiet["end"])) if quiet else None,
        )

    def address(self, channel: str) -> str | None:
        return {EMAIL: self.email, SMS: self.phone}.get(channel)

    def channels_for(self, kind: str) -> tuple[str, ...]:
        """The personal channels wanted for `kind` that have an address."""
        wanted = self.channels_by_kind.get(kind, self.default_channels)
        return tuple(c for c in wanted if self.address(c))


@dataclass(frozen=True)
class Route:
    """One delivery to plan: `key` is unique per notice (a recipient may have several webhooks)."""

    channel: str
    address: str  # an email address, a phone number, or a webhook id
    not_before: datetime

    @property
    def key(self) -> str:
        return f"{WEBHOOK}:{self.address}" if self.channel == WEBHOOK else self.channel


def routes(kind: str, preferences: Preferences, webhook_ids: Iterable[str], now: datetime) -> list[Route]:
    """Where a notice of `kind` goes besides the inbox. Email and SMS wait out quiet hours;
    webhooks (machines) do not."""
    quiet_end = preferences.quiet_hours.until(now) if preferences.quiet_hours else None
    personal = [
        Route(c, address, quiet_end or now)
        for c in preferences.channels_for(kind)
        if (address := preferences.address(c))
    ]
    return personal + [Route(WEBHOOK, webhook_id, now) for webhook_id in webhook_ids]
