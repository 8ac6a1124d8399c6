"""The notify service's vocabulary, as its settings, webhooks and inbox carry it: the kinds of
notice it sends, the channels it sends them on, and what a webhook's address and a time of day
may be. Plain data and checks: the notify domain names these too.

A kind is the name of the event that caused the notice (so a webhook subscribes to the
same names as the events it receives), or one of the platform's own notices.
"""

from __future__ import annotations

from datetime import time
from urllib.parse import urlsplit

EVENT_KINDS = {
    "applications": (
        "call_opened",
        "call_closed",
        "call_extended",
        "call_cancelled",
        "application_submitted",
        "application_withdrawn",
        "application_recommended",
        "application_declined",
        "eligibility_checked",
        "project_established",
        "project_replaced",
        "annual_report_due",
        "annual_report_filed",
        "annual_report_returned",
        "annual_report_endorsed",
        "annual_report_accepted",
        "annual_reports_missing",
    ),
    "review": (
        "experts_assigned",
        "assignment_declined",
        "ranking_published",
        "notice_published",
        "objection_filed",
        "objection_resolved",
        "selection_finalized",
        "panel_experts_assigned",
        "panel_results_proposed",
        "panel_result_confirmed",
        "rectification_due",
    ),
    "funding": (
        "funds_allocated",
        "tranche_released",
        "tranche_withheld",
        "funds_clawed_back",
        "project_failed",
        "project_withdrawn",
        "budget_exhausted",
    ),
}
#: Events the service learns from without telling anyone.
SILENT_EVENTS = {"review": ("review_submitted", "panel_review_submitted", "panel_assignment_declined")}

REVIEW_REMINDER = "review_reminder"
DEAD_LETTERS = "dead_letters"
WEBHOOK_DISABLED = "webhook_disabled"
PLATFORM_KINDS = (REVIEW_REMINDER, DEAD_LETTERS, WEBHOOK_DISABLED)

#: What a webhook may subscribe to: it receives the CloudEvent itself.
WEBHOOK_KINDS = tuple(kind for kinds in EVENT_KINDS.values() for kind in kinds)
KINDS = WEBHOOK_KINDS + PLATFORM_KINDS

INBOX, EMAIL, SMS, WEBHOOK = "inbox", "email", "sms", "webhook"
#: Channels a recipient chooses per kind (the inbox always receives; webhooks are subscribed apart).
PERSONAL_CHANNELS = (EMAIL, SMS)
#: Channels with a sender of their own, each independent of the others.
SENT_CHANNELS = (EMAIL, SMS, WEBHOOK)
#: Channels with templates (a webhook carries the CloudEvent as it is).
TEMPLATED_CHANNELS = (INBOX, EMAIL, SMS)

SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2048


def url_problem(url: str) -> str | None:
    """What is wrong with `url` as a webhook address, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme.lower() not in SCHEMES:
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials; the signature authenticates the platform"
    return None


def parse_clock(text: str) -> time:
    """'HH:MM' (24-hour). Raises ValueError."""
    hours, _, minutes = text.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return time(int(hours), int(minutes))
