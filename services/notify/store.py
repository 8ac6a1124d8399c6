"""The notify service's MongoDB repository: the only code that knows its collections.

- `notifications`: the inbox, one message per (origin, recipient); its id is derived
  from both, so planning the same origin twice finds the first.
- `deliveries`: one per (origin, recipient, route), unique: what the senders send.
  A sender claims a due delivery by pushing its `next_attempt_at` a lease ahead in one
  atomic update; a sender that dies before recording the outcome leaves it to be
  claimed again when the lease runs out.
- `webhooks`, `settings`: what recipients set up through the API.
- `calls`, `applications`, `institutions`, `assignments`, `approvals`, `projects`: the
  directory, learned from events.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from services.common import pages
from services.common.store import BaseStore
from services.notify.domain.directory import OPEN, Fact
from services.notify.domain.recipients import Party
from services.notify.domain.webhooks import ACTIVE, DELETED, DISABLED
from services.contracts.notify_events import EVENTS

PENDING, SENT, FAILED = "pending", "sent", "failed"
NEWEST_FIRST = (("created_at", pages.DESCENDING), ("_id", pages.DESCENDING))
OLDEST_FIRST = (("created_at", pages.ASCENDING), ("_id", pages.ASCENDING))


def derived_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


class NotifyStore(BaseStore):
    indexes = {
        "notifications": [
            IndexModel(
                [("recipient", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="inbox_newest_first"
            ),
            IndexModel([("recipient", ASCENDING), ("read_at", ASCENDING)], name="unread"),
        ],
        "deliveries": [
            IndexModel(
                [("origin_id", ASCENDING), ("recipient", ASCENDING), ("route", ASCENDING)],
                name="once_per_origin_recipient_route",
                unique=True,
            ),
            IndexModel(
                [("channel", ASCENDING), ("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due_by_channel"
            ),
            IndexModel([("webhook_id", ASCENDING), ("status", ASCENDING)], name="by_webhook"),
        ],
        "webhooks": [
            IndexModel([("owner", ASCENDING), ("status", ASCENDING), ("created_at", ASCENDING)], name="by_owner")
        ],
        "settings": [],
        "calls": [],
        "applications": [IndexModel([("call_id", ASCENDING)], name="by_call")],
        "institutions": [],
        "assignments": [IndexModel([("state", ASCENDING), ("review_deadline", ASCENDING)], name="open_by_deadline")],
        "approvals": [],
        "projects": [],
    }
    events = EVENTS

    # --- the directory --------------------------------------------------------------------

    def learn(self, facts: list[Fact]) -> None:
        for fact in facts:
            change = {"$set": fact.fields, **({"$setOnInsert": fact.initial} if fact.initial else {})}
            self.db[fact.record].update_one({"_id": fact.key}, change, upsert=True, session=self.session)

    def call_name(self, call_id: str) -> str | None:
        doc = self.db.calls.find_one({"_id": call_id}, session=self.session)
        return doc["title"] if doc else None

    @staticmethod
    def _party(doc: dict | None, application_id: str | None = None) -> Party | None:
        if doc is None:
            return None
        return Party(
            application_id or doc["_id"],
            doc["institution_id"],
            doc["prefecture"],
            doc.get("title"),
            doc.get("recommender"),
        )

    def application(self, application_id: str) -> Party | None:
        return self._party(self.db.applications.find_one({"_id": application_id}, session=self.session))

    def parties_of_call(self, call_id: str) -> list[Party]:
        return [
            self._party(d) for d in self.db.applications.find({"call_id": call_id}, session=self.session).sort("_id", 1)
        ]

    def known_institutions(self) -> list[str]:
        return [d["_id"] for d in self.db.institutions.find({}, {"_id": 1}, session=self.session).sort("_id", 1)]

    def approval(self, call_id: str, rank: int) -> Party | None:
        doc = self.db.approvals.find_one({"_id": f"{call_id}:{rank}"}, session=self.session)
        return self._party(doc, doc["application_id"]) if doc else None

    def project(self, project_id: str) -> Party | None:
        doc = self.db.projects.find_one({"_id": project_id}, session=self.session)
        return self.approval(doc["call_id"], doc["rank"]) if doc else None

    def open_assignments_due(self, after: datetime, until: datetime) -> list[dict]:
        return list(
            self.db.assignments.find(
                {"state": OPEN, "review_deadline": {"$gt": after, "$lte": until}}, session=self.session
            ).sort("_id", 1)
        )

    # --- what recipients set up -------------------------------------------------------------

    def settings_of(self, recipient: str) -> dict | None:
        return self.db.settings.find_one({"_id": recipient}, session=self.session)

    def save_settings(self, recipient: str, settings: dict, now: datetime) -> dict:
        doc = {**settings, "updated_at": now}
        self.db.settings.replace_one({"_id": recipient}, doc, upsert=True, session=self.session)
        return {"_id": recipient, **doc}

    def add_webhook(self, doc: dict) -> dict:
        self.db.webhooks.insert_one(doc, session=self.session)
        return doc

    def webhook(self, webhook_id: str) -> dict | None:
        return self.db.webhooks.find_one({"_id": webhook_id}, session=self.session)

    def webhooks_of(self, owner: str, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        return pages.page(
            self.db.webhooks, {"owner": owner, "status": {"$ne": DELETED}}, OLDEST_FIRST, limit, cursor, self.session
        )

    def active_webhooks(self, owner: str, kind: str) -> list[str]:
        found = self.db.webhooks.find(
            {"owner": owner, "status": ACTIVE, "kinds": kind}, {"_id": 1}, session=self.session
        )
        return [d["_id"] for d in found.sort("_id", 1)]

    def end_webhook(self, webhook_id: str, status: str, now: datetime, owner: str | None = None) -> dict | None:
        """Move an active (or, when deleting, disabled) webhook to `status`; None if it is not there to move."""
        allowed = [ACTIVE] if status == DISABLED else [ACTIVE, DISABLED]
        query = {"_id": webhook_id, "status": {"$in": allowed}, **({"owner": owner} if owner else {})}
        return self.db.webhooks.find_one_and_update(
            query,
            {"$set": {"status": status, f"{status}_at": now}},
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )

    def count_webhook_outcome(self, webhook_id: str, error: str | None) -> dict | None:
        """Record a delivery's outcome on its (active) webhook: a success clears the failure
        streak, a failure lengthens it. Answers the webhook as it is now."""
        change = (
            {"$set": {"consecutive_failures": 0}}
            if error is None
            else {"$inc": {"consecutive_failures": 1}, "$set": {"last_error": error}}
        )
        return self.db.webhooks.find_one_and_update(
            {"_id": webhook_id, "status": ACTIVE}, change, return_document=ReturnDocument.AFTER, session=self.session
        )

    # --- the inbox --------------------------------------------------------------------------

    def notification_exists(self, notification_id: str) -> bool:
        return self.db.notifications.find_one({"_id": notification_id}, {"_id": 1}, session=self.session) is not None

    def add_notification(self, doc: dict) -> None:
        self.db.notifications.insert_one(doc, session=self.session)

    def inbox(
        self, recipient: str, limit: int, cursor: str | None, unread: bool | None
    ) -> tuple[list[dict], str | None]:
        query: dict = {"recipient": recipient}
        if unread is not None:
            query["read_at"] = None if unread else {"$ne": None}
        return pages.page(self.db.notifications, query, NEWEST_FIRST, limit, cursor, self.session)

    def unread_count(self, recipient: str) -> int:
        return self.db.notifications.count_documents({"recipient": recipient, "read_at": None}, session=self.session)

    def mark_read(self, recipient: str, notification_id: str, now: datetime) -> dict | None:
        """The recipient's message, read (at `now` if it was unread); None if it is not theirs.
        An update and a read by `_id`, not a findAndModify: see docs/writing-a-service.md."""
        mine = {"_id": notification_id, "recipient": recipient}
        self.db.notifications.update_one({**mine, "read_at": None}, {"$set": {"read_at": now}}, session=self.session)
        return self.db.notifications.find_one(mine, session=self.session)

    # --- deliveries -------------------------------------------------------------------------

    def add_delivery(self, doc: dict) -> None:
        self.db.deliveries.insert_one(doc, session=self.session)

    def claim(self, channel: str, holder: str, now: datetime, lease_s: float) -> dict | None:
        """The most overdue pending delivery of `channel`, leased to `holder` (before the lease).
        A read of the most overdue and a compare-and-set of its lease by `_id`, not a
        findAndModify (see docs/writing-a-service.md): a delivery another sender leased between
        the two has moved its next attempt, so the set misses and the next one is read."""
        due = {"channel": channel, "status": PENDING, "next_attempt_at": {"$lte": now}}
        while (
            doc := self.db.deliveries.find_one(due, sort=[("next_attempt_at", 1)], session=self.session)
        ) is not None:
            leased = self.db.deliveries.update_one(
                {"_id": doc["_id"], "status": PENDING, "next_attempt_at": doc["next_attempt_at"]},
                {"$set": {"next_attempt_at": now + timedelta(seconds=lease_s), "holder": holder}},
                session=self.session,
            )
            if leased.modified_count:
                return doc
        return None

    def retry_later(self, delivery: dict, error: str, at: datetime) -> None:
        self.db.deliveries.update_one(
            {"_id": delivery["_id"], "status": PENDING},
            {"$set": {"next_attempt_at": at, "last_error": error}, "$inc": {"attempts": 1}},
            session=self.session,
        )

    def mark_settled(self, delivery_id: str, status: str, now: datetime, attempts: int, error: str | None) -> bool:
        """Mark a pending delivery sent or failed; False if it was settled already."""
        return (
            self.db.deliveries.update_one(
                {"_id": delivery_id, "status": PENDING},
                {"$set": {"status": status, "settled_at": now, "attempts": attempts, "last_error": error}},
                session=self.session,
            ).modified_count
            == 1
        )

    def pending_of_webhook(self, webhook_id: str) -> list[dict]:
        return list(self.db.deliveries.find({"webhook_id": webhook_id, "status": PENDING}, session=self.session))
