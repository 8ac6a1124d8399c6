"""The one clock of the platform: now, in UTC, to the millisecond as MongoDB keeps it, so that
what a command answers, what it stored and what a hash covers are the same instant."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
