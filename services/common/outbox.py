"""The outbox relay: publishes staged events with publisher confirms and mandatory
routing, marks them sent, and keeps order per subject.

Every unsent event is retried (not only the latest); an event whose publish fails
holds back the later events of its subject, never those of other subjects. While the
broker is down the relay backs off and keeps trying; the writes that stage events
never depend on it. One replica per service relays at a time (a lease), so order per
subject holds with several replicas too. The lease is short (RELAY_LEASE_S, 2 s) and renewed by a
heartbeat thread of its own, so a killed relay's successor starts within about that; a restarted
process of the same replica (RELAY_HOLDER, the pod's name in Kubernetes) takes it over at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from itertools import groupby
from typing import Any

from .config import Settings
from .messaging import Publisher, Unroutable, declare_service_exchange, service_exchange
from pymongo.errors import PyMongoError

from .observability import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from .outages import OUTAGES
from .clock import utcnow
from .store import Lease, MongoDatabase

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
#: A relay loop that has not come round for this long is stuck in a call that does not return:
#: its heartbeat stops renewing the lease, so that another replica relays (a publish waits at
#: most 30 s for its confirm, a pass of the loop rarely a second).
RELAY_STUCK_S = 90.0
UNROUTABLE_HOLD_S = 30.0


class OutboxRelay:
    def __init__(self, db: MongoDatabase, service: str, settings: Settings, publisher: Publisher | None = None) -> None:
        self.db, self.service, self.settings = db, service, settings
        self.publisher = publisher or Publisher(settings.amqp_uri)
        self.exchange = service_exchange(service)
        holder = settings.relay_holder or f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.lease = Lease(db, "outbox-relay", holder, settings.relay_lease_s)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._declared = False
        self._held: dict[str, float] = {}  # subjects whose next event was unroutable, until when
        self._came_round = time.monotonic()  # when the relay loop last showed it was moving
        self._stuck = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def heartbeat(self) -> None:
        """Renews the lease (or tries to take it) three times per lease period until stopped."""
        while not self._stopped.is_set():
            self.beat()
            self._stopped.wait(self.settings.relay_lease_s / 3)

    def beat(self) -> None:
        """Renews the lease, or tries to take it, while the relay loop keeps coming round; a loop
        stuck for RELAY_STUCK_S lets it lapse (once it moves again, it may take it back)."""
        stuck = time.monotonic() - self._came_round > RELAY_STUCK_S
        if stuck != self._stuck:
            self._stuck = stuck
            if stuck:
                log.warning(
                    "the %s outbox relay has not moved for %.0f s: its lease lapses", self.service, RELAY_STUCK_S
                )
        if stuck:
            return
        had = self.lease.held()
        try:
            if self.lease.acquire() and not had:
                self.wake()
            OUTAGES.up("mongodb")
        except PyMongoError as exc:  # the lease lapses by itself; relaying resumes with the database
            OUTAGES.down("mongodb", exc)

    def run(self) -> None:
        beat = threading.Thread(target=self.heartbeat, name=f"{self.service}-relay-lease", daemon=True)
        beat.start()
        backoff = self.settings.relay_poll_s
        while not self._stopped.is_set():
            self._came_round = time.monotonic()
            try:
                more = self.lease.held() and self.publish_pending()
                backoff = self.settings.relay_poll_s
                OUTAGES.up("rabbitmq")
            except Exception as exc:  # broker or database away: keep everything, try again later
                OUTAGES.down("mongodb" if isinstance(exc, PyMongoError) else "rabbitmq", exc)
                more = False
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            if not more:
                self._wake.wait(self.settings.relay_poll_s)
                self._wake.clear()
        beat.join()
        self.lease.release()
        self.publisher.close()

    def publish_pending(self) -> bool:
        """One pass over the oldest unsent events. Returns True when more may be waiting."""
        if not self._declared:  # at once, not at the first event: consumers bind their queues to it
            declare_service_exchange(self.publisher, self.service)
            self._declared = True
        now = time.monotonic()
        self._held = {subject: until for subject, until in self._held.items() if until > now}
        batch = list(
            self.db.outbox.find({"sent_at": None, "subject": {"$nin": list(self._held)}})
            .sort([("staged_at", 1), ("sequence", 1)])
            .limit(self.settings.relay_batch)
        )
        truncated = len(batch) == self.settings.relay_batch
        sent: list[str] = []
        try:
            subjects: dict[str, list[dict[str, Any]]] = {}
            for subject, group in groupby(
                sorted(batch, key=lambda e: (e["subject"], e["sequence"])), key=lambda e: e["subject"]
            ):
                entries = list(group)
                if not (truncated and self._has_earlier_unsent(subject, entries[0]["sequence"])):
                    subjects[subject] = entries
            self._publish_in_order(subjects, sent)
        finally:
            if sent:
                self.db.outbox.update_many({"_id": {"$in": sent}}, {"$set": {"sent_at": utcnow()}})
            backlog = self.db.outbox.count_documents({"sent_at": None}) if truncated else len(batch) - len(sent)
            OUTBOX_BACKLOG.labels(self.service).set(backlog)
        return truncated and bool(sent)

    def _has_earlier_unsent(self, subject: str, sequence: int) -> bool:
        return self.db.outbox.find_one({"subject": subject, "sent_at": None, "sequence": {"$lt": sequence}}) is not None

    def _publish_in_order(self, subjects: dict[str, list[dict[str, Any]]], sent: list[str]) -> None:
        """Publish each subject's events in sequence order, a subject stopping at its first that fails.

        In rounds: each round publishes the next event of every subject, pipelined (all sent, then
        all confirms awaited), so that no event is sent before its predecessor is confirmed. An
        unroutable event (no queue and no alternate exchange took it) stays unsent and holds back
        its own subject for a while, and only it; any other failure (a nack, a lost connection, no
        confirm in time) ends the pass, the event unsent: the publisher has dropped that connection,
        and the next pass sends it again on a new channel, on the next node of a failover list."""
        while subjects and self.lease.held():  # the heartbeat could not renew it: another replica may relay now
            self._came_round = time.monotonic()
            round_ = [entries.pop(0) for entries in subjects.values()]
            outcomes = self.publisher.publish_all(self.exchange, [(e["name"], e["event"], e["_id"]) for e in round_])
            refused = None
            for entry, error in zip(round_, outcomes):
                if error is None:
                    sent.append(entry["_id"])
                    EVENTS_PUBLISHED.labels(self.service, entry["name"]).inc()
                    continue
                self.db.outbox.update_one(
                    {"_id": entry["_id"]}, {"$inc": {"attempts": 1}, "$set": {"last_error": repr(error)}}
                )
                if not isinstance(error, Unroutable):
                    refused = error
                    continue
                log.error(
                    "event unroutable, kept unsent", extra={"fields": {"event_id": entry["_id"], "error": str(error)}}
                )
                self._held[entry["subject"]] = time.monotonic() + UNROUTABLE_HOLD_S
                del subjects[entry["subject"]]
            if refused is not None:
                raise refused
            subjects = {subject: entries for subject, entries in subjects.items() if entries}
