"""The platform's own notices, raised by timers and by the senders rather than by events:
review reminders, dead letters piling up, a webhook switched off. Each has a key that
makes it once per window: planning it again with the same key plans nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from services.contracts.notify import DEAD_LETTERS, REVIEW_REMINDER, WEBHOOK_DISABLED
from services.notify.domain.recipients import PROVINCE, Directory, Notice, audience, call_name_of, expert, titled


@dataclass(frozen=True)
class Origin:
    """What a notice comes from: an event (`event` is its CloudEvent, `id` its id) or a
    platform key. `subject` is the record a portal links the notice to."""

    id: str
    subject: str
    event: dict[str, Any] | None = None


def due_window(now: datetime, hours: float) -> tuple[datetime, datetime]:
    """Reviews due after `now` and at most `hours` later are reminded."""
    return now, now + timedelta(hours=hours)


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def review_reminders(assignments: Iterable[Mapping[str, Any]], directory: Directory) -> list[tuple[Origin, Notice]]:
    """One reminder per expert and review deadline, listing the open assignments due then.
    `assignments`: open assignments due in the window (expert_id, application_id, call_id,
    review_deadline)."""
    groups: dict[tuple[str, datetime], list[Mapping[str, Any]]] = {}
    for a in assignments:
        groups.setdefault((a["expert_id"], a["review_deadline"]), []).append(a)
    reminders = []
    for (expert_id, deadline), due in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0])):
        entries = [
            titled(
                directory, {"application_id": a["application_id"], "call_name": call_name_of(directory, a["call_id"])}
            )
            for a in due
        ]
        deadline_text = _iso(deadline)
        origin = Origin(f"{REVIEW_REMINDER}:{expert_id}:{deadline_text}", subject=due[0]["call_id"])
        reminders.append(
            (
                origin,
                Notice(
                    expert(expert_id),
                    REVIEW_REMINDER,
                    {"audience": "expert", "deadline": deadline_text, "entries": entries},
                ),
            )
        )
    return reminders


def dead_letters_notice(depths: Mapping[str, int], now: datetime) -> tuple[Origin, Notice] | None:
    """Once per hour (UTC) while any dead-letter queue holds messages, a notice to the province."""
    piling = [{"queue": q, "depth": n} for q, n in sorted(depths.items()) if n > 0]
    if not piling:
        return None
    hour = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H")
    return (
        Origin(f"{DEAD_LETTERS}:{hour}", subject=DEAD_LETTERS),
        Notice(
            PROVINCE, DEAD_LETTERS, {"audience": "province", "queues": piling, "total": sum(p["depth"] for p in piling)}
        ),
    )


def webhook_disabled_notice(
    webhook: Mapping[str, Any], failures: int, last_error: str, disabled_at: datetime
) -> tuple[Origin, Notice]:
    owner = webhook["owner"]
    return (
        Origin(f"{WEBHOOK_DISABLED}:{webhook['_id']}:{_iso(disabled_at)}", subject=webhook["_id"]),
        Notice(
            owner,
            WEBHOOK_DISABLED,
            {
                "audience": audience(owner),
                "url": webhook["url"],
                "webhook_id": webhook["_id"],
                "failures": failures,
                "last_error": last_error,
            },
        ),
    )
