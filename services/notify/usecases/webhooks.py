"""Webhooks: a recipient makes and deletes its own; the senders switch off one that keeps failing."""

from __future__ import annotations

import secrets
from datetime import datetime

from services.notify.domain.platform import webhook_disabled_notice
from services.notify.domain.signature import new_secret
from services.notify.domain.webhooks import ACTIVE, DELETED, DISABLED, NoSuchWebhook
from services.notify.store import FAILED, NotifyStore
from services.notify.usecases.deliveries import settle
from services.notify.usecases.planning import plan


def add_webhook(store: NotifyStore, owner: str, webhook: dict, created_by: str, now: datetime) -> dict:
    """A new active webhook of `owner` with a fresh signing secret; `webhook`: its checked url and kinds."""
    doc = {
        "_id": "wh_" + secrets.token_hex(10),
        "owner": owner,
        **webhook,
        "secret": new_secret(),
        "status": ACTIVE,
        "consecutive_failures": 0,
        "last_error": None,
        "created_at": now,
        "disabled_at": None,
        "created_by": created_by,
    }
    return store.atomic(lambda: store.add_webhook(doc))


def _give_up_pending(store: NotifyStore, webhook_id: str, now: datetime, why: str) -> None:
    for pending in store.pending_of_webhook(webhook_id):
        settle(store, pending, FAILED, now, why, attempted=False)


def delete_webhook(store: NotifyStore, owner: str, webhook_id: str, now: datetime) -> dict:
    """The owner deletes its webhook; its pending deliveries are given up. Raises `NoSuchWebhook`."""

    def work():
        webhook = store.end_webhook(webhook_id, DELETED, now, owner=owner)
        if webhook is None:
            raise NoSuchWebhook()
        _give_up_pending(store, webhook_id, now, "the webhook was deleted")
        return webhook

    return store.atomic(work)


def disable_webhook(store: NotifyStore, webhook: dict, error: str, now: datetime) -> bool:
    """Switch the webhook off after repeated failures, give up its pending deliveries, and
    tell its owner; False if another sender did it first."""

    def work():
        if store.end_webhook(webhook["_id"], DISABLED, now) is None:
            return False
        _give_up_pending(store, webhook["_id"], now, "the webhook was disabled after repeated failures")
        origin, notice = webhook_disabled_notice(webhook, webhook["consecutive_failures"], error, now)
        plan(store, origin, [notice], now)
        return True

    return store.atomic(work)
