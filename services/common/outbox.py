"""The outbox relay: publishes staged events with publisher confirms and mandatory
routing, marks them sent, and keeps order per subject.

Every unsent event is retried (not only the latest); an event whose publish fails
holds back the later events of its subject, never those of other subjects. While the
broker is down the relay backs off and keeps trying; the writes that stage events
never depend on it. One replica per service relays at a time (a lease), so order per
subject holds with several replicas too.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from itertools import groupby

from .config import Settings
from .messaging import Publisher, Unroutable, declare_service_exchange, service_exchange
from .observability import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from .store import Lease, utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
UNROUTABLE_HOLD_S = 30.0


class OutboxRelay:
    def __init__(self, db, service: str, settings: Settings, publisher: Publisher | None = None):
        self.db, self.service, self.settings = db, service, settings
        self.publisher = publisher or Publisher(settings.amqp_uri)
        self.exchange = service_exchange(service)
        self.lease = Lease(db, "outbox-relay", f"{socket.gethostname()}:{os.getpid()}:{id(self)}", settings.relay_lease_s)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._declared = False
        self._held: dict[str, float] = {}  # subjects whose next event was unroutable, until when

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def run(self) -> None:
        backoff = self.settings.relay_poll_s
        while not self._stopped.is_set():
            try:
                more = self.lease.acquire() and self.publish_pending()
                backoff = self.settings.relay_poll_s
            except Exception as exc:  # broker or database away: keep everything, try again later
                log.warning("outbox relay pass failed; retrying in %.1fs", backoff,
                            extra={"fields": {"service": self.service, "error": repr(exc)}})
                more = False
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            if not more:
                self._wake.wait(self.settings.relay_poll_s)
                self._wake.clear()
        self.lease.release()
        self.publisher.close()

    def publish_pending(self) -> bool:
        """One pass over the oldest unsent events. Returns True when more may be waiting."""
        if not self._declared:  # at once, not at the first event: consumers bind their queues to it
            declare_service_exchange(self.publisher, self.service)
            self._declared = True
        now = time.monotonic()
        self._held = {subject: until for subject, until in self._held.items() if until > now}
        batch = list(self.db.outbox.find({"sent_at": None, "subject": {"$nin": list(self._held)}})
                     .sort([("staged_at", 1), ("sequence", 1)]).limit(self.settings.relay_batch))
        truncated = len(batch) == self.settings.relay_batch
        sent: list[str] = []
        try:
            for subject, entries in groupby(sorted(batch, key=lambda e: (e["subject"], e["sequence"])),
                                            key=lambda e: e["subject"]):
                entries = list(entries)
                if truncated and self._has_earlier_unsent(subject, entries[0]["sequence"]):
                    continue
                self._publish_in_order(entries, sent)
        finally:
            if sent:
                self.db.outbox.update_many({"_id": {"$in": sent}}, {"$set": {"sent_at": utcnow()}})
            backlog = self.db.outbox.count_documents({"sent_at": None}) if truncated else len(batch) - len(sent)
            OUTBOX_BACKLOG.labels(self.service).set(backlog)
        return truncated and bool(sent)

    def _has_earlier_unsent(self, subject: str, sequence: int) -> bool:
        return self.db.outbox.find_one({"subject": subject, "sent_at": None, "sequence": {"$lt": sequence}}) is not None

    def _publish_in_order(self, entries: list[dict], sent: list[str]) -> None:
        """Publish one subject's events in sequence order, stopping at the first that fails.

        An unroutable event (no queue and no alternate exchange took it) stays unsent and
        holds back its own subject for a while, and only it; any other failure means the
        broker is away, and ends the pass."""
        for entry in entries:
            try:
                self.publisher.publish(self.exchange, entry["name"], entry["event"], message_id=entry["_id"])
            except Exception as exc:
                self.db.outbox.update_one({"_id": entry["_id"]}, {"$inc": {"attempts": 1}, "$set": {"last_error": repr(exc)}})
                if isinstance(exc, Unroutable):
                    log.error("event unroutable, kept unsent", extra={"fields": {"event_id": entry["_id"], "error": str(exc)}})
                    self._held[entry["subject"]] = time.monotonic() + UNROUTABLE_HOLD_S
                    return
                raise
            sent.append(entry["_id"])
            EVENTS_PUBLISHED.labels(self.service, entry["name"]).inc()
