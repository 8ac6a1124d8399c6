"""Planning: a notice becomes an inbox message and the deliveries to send, written in one
transaction (inside an event handler, the handler's own), so that an origin handled
again plans nothing new. Sending is the senders' job (sending.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.contracts.notify import INBOX, WEBHOOK
from services.notify.domain.platform import Origin
from services.notify.domain.preferences import Preferences, Route, routes
from services.notify.domain.recipients import Notice
from services.notify.rendering import render
from services.notify.store import PENDING, NotifyStore, derived_id


def notification_id(origin_id: str, recipient: str) -> str:
    return derived_id("ntf_", origin_id, recipient)


def delivery_id(origin_id: str, recipient: str, route_key: str) -> str:
    return derived_id("dlv_", origin_id, recipient, route_key)


def plan(store: NotifyStore, origin: Origin, notices: Iterable[Notice], now: datetime) -> int:
    """Plan each notice not planned before for this origin; answers how many were new."""
    notices = list(notices)
    if not notices:
        return 0
    return store.atomic(lambda: sum(_plan(store, origin, notice, now) for notice in notices))


def _plan(store: NotifyStore, origin: Origin, notice: Notice, now: datetime) -> int:
    ntf_id = notification_id(origin.id, notice.recipient)
    if store.notification_exists(ntf_id):
        return 0
    message = render(notice.kind, INBOX, notice.context)
    store.add_notification(
        {
            "_id": ntf_id,
            "recipient": notice.recipient,
            "kind": notice.kind,
            "subject": origin.subject,
            "origin_id": origin.id,
            "title": message["title"],
            "body": message["body"],
            "created_at": now,
            "read_at": None,
        }
    )
    preferences = Preferences.from_settings(store.settings_of(notice.recipient))
    shared = origin.event is not None and notice.shareable
    webhooks = store.active_webhooks(notice.recipient, notice.kind) if shared else []
    for route in routes(notice.kind, preferences, webhooks, now):
        store.add_delivery(_delivery(origin, notice, ntf_id, route, now))
    return 1


def _delivery(origin: Origin, notice: Notice, ntf_id: str, route: Route, now: datetime) -> dict:
    content = (
        {"event": origin.event} if route.channel == WEBHOOK else render(notice.kind, route.channel, notice.context)
    )
    return {
        "_id": delivery_id(origin.id, notice.recipient, route.key),
        "notification_id": ntf_id,
        "origin_id": origin.id,
        "source_event_id": origin.id if origin.event else None,
        "recipient": notice.recipient,
        "kind": notice.kind,
        "channel": route.channel,
        "route": route.key,
        "address": route.address,
        "webhook_id": route.address if route.channel == WEBHOOK else None,
        "content": content,
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": route.not_before,
        "last_error": None,
    }
