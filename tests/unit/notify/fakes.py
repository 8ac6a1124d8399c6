"""The notify store in memory (cosmicpython's fake repository): the methods the use cases
call, over dicts; `atomic` and `emit` are the unit of work's
(tests/support/unit_of_work.py)."""

from __future__ import annotations

from datetime import datetime

from services.notify.domain.directory import OPEN
from services.notify.domain.recipients import Party
from services.notify.domain.webhooks import ACTIVE, DISABLED
from services.contracts.notify_events import EVENTS
from services.notify.store import PENDING
from tests.support.unit_of_work import InMemoryUnitOfWork


class FakeNotifyStore(InMemoryUnitOfWork):
    tables = ("records", "settings", "webhooks", "notifications", "deliveries")
    events = EVENTS

    def __init__(self):
        super().__init__()
        self.records: dict[str, dict[str, dict]] = {}  # the directory: record -> key -> fields
        self.settings: dict[str, dict] = {}
        self.webhooks: dict[str, dict] = {}
        self.notifications: dict[str, dict] = {}
        self.deliveries: dict[str, dict] = {}

    # --- the directory --------------------------------------------------------------------

    def learn(self, facts) -> None:
        for fact in facts:
            record = self.records.setdefault(fact.record, {})
            record.setdefault(fact.key, {"_id": fact.key, **fact.initial}).update(fact.fields)

    def _record(self, name: str) -> dict[str, dict]:
        return self.records.get(name, {})

    @staticmethod
    def _party(doc, application_id=None):
        return (
            None
            if doc is None
            else Party(
                application_id or doc["_id"],
                doc["institution_id"],
                doc["prefecture"],
                doc.get("title"),
                doc.get("recommender"),
            )
        )

    def call_name(self, call_id):
        doc = self._record("calls").get(call_id)
        return doc["title"] if doc else None

    def application(self, application_id):
        return self._party(self._record("applications").get(application_id))

    def parties_of_call(self, call_id):
        return [self._party(d) for _, d in sorted(self._record("applications").items()) if d.get("call_id") == call_id]

    def known_institutions(self):
        return sorted(self._record("institutions"))

    def approval(self, call_id, rank):
        doc = self._record("approvals").get(f"{call_id}:{rank}")
        return self._party(doc, doc["application_id"]) if doc else None

    def project(self, project_id):
        doc = self._record("projects").get(project_id)
        return self.approval(doc["call_id"], doc["rank"]) if doc else None

    def open_assignments_due(self, after: datetime, until: datetime):
        return [
            d
            for _, d in sorted(self._record("assignments").items())
            if d["state"] == OPEN and after < d["review_deadline"] <= until
        ]

    # --- what recipients set up -------------------------------------------------------------

    def settings_of(self, recipient):
        return self.settings.get(recipient)

    def add_webhook(self, doc):
        self.webhooks[doc["_id"]] = doc
        return doc

    def active_webhooks(self, owner, kind):
        return sorted(
            w["_id"]
            for w in self.webhooks.values()
            if w["owner"] == owner and w["status"] == ACTIVE and kind in w["kinds"]
        )

    def end_webhook(self, webhook_id, status, now, owner=None):
        webhook = self.webhooks.get(webhook_id)
        allowed = [ACTIVE] if status == DISABLED else [ACTIVE, DISABLED]
        if webhook is None or webhook["status"] not in allowed or (owner and webhook["owner"] != owner):
            return None
        webhook.update({"status": status, f"{status}_at": now})
        return dict(webhook)

    # --- the inbox and deliveries -----------------------------------------------------------

    def notification_exists(self, notification_id):
        return notification_id in self.notifications

    def add_notification(self, doc):
        self.notifications[doc["_id"]] = doc

    def add_delivery(self, doc):
        assert doc["_id"] not in self.deliveries, "unique (origin, recipient, route)"
        self.deliveries[doc["_id"]] = doc

    def pending_of_webhook(self, webhook_id):
        return [dict(d) for d in self.deliveries.values() if d["webhook_id"] == webhook_id and d["status"] == PENDING]

    def mark_settled(self, delivery_id, status, now, attempts, error):
        delivery = self.deliveries[delivery_id]
        if delivery["status"] != PENDING:
            return False
        delivery.update(status=status, settled_at=now, attempts=attempts, last_error=error)
        return True
