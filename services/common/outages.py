"""Dependency outages, logged once each way: one line when MongoDB or the broker goes away (with
the first error), one when it answers again (with how long it was away), instead of a line per
request, event or timer tick while it is gone."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pymongo.errors import ConnectionFailure

log = logging.getLogger(__name__)


class StoreBusy(Exception):
    """A transaction could not commit within its time budget (the database is away, or the records
    it needs are held by another writer): nothing was written; the caller may retry (a 503)."""


# What a worker raises when the database, not the request, is at fault.
DATABASE_AWAY = (ConnectionFailure, StoreBusy)


class Outages:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()

    def down(self, dependency: str, error: BaseException) -> None:
        with self._lock:
            if dependency in self._since:
                return
            self._since[dependency] = self._clock()
        log.error(
            "%s is not available; requests answer 503 until it is back",
            dependency,
            extra={"fields": {"dependency": dependency, "error": repr(error)}},
        )

    def up(self, dependency: str) -> None:
        with self._lock:
            since = self._since.pop(dependency, None)
        if since is not None:
            log.warning(
                "%s is back after %.1f s",
                dependency,
                self._clock() - since,
                extra={"fields": {"dependency": dependency, "outage_s": round(self._clock() - since, 1)}},
            )

    def is_down(self, dependency: str) -> bool:
        with self._lock:
            return dependency in self._since


OUTAGES = Outages()


class QuietDuringOutage(logging.Filter):
    """Drops nameko's per-worker error line when the worker failed because the database is away,
    noting the outage once instead (install it on the "nameko.containers" logger)."""

    def __init__(self, outages: Outages = OUTAGES):
        super().__init__()
        self.outages = outages

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, DATABASE_AWAY):
            self.outages.down("mongodb", error)
            return False
        return True


QUIET_DURING_OUTAGE = QuietDuringOutage()
