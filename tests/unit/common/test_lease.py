from datetime import datetime, timedelta, timezone

import pytest
from pymongo.errors import DuplicateKeyError

from services.common import store
from services.common.store import Lease


class Clocks:
    """The wall clock the lease document keeps and the process's own monotonic clock, moved together."""

    def __init__(self, monkeypatch):
        self.wall = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
        self.mono = 100.0
        monkeypatch.setattr(store, "utcnow", lambda: self.wall)

    def advance(self, seconds):
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clocks(monkeypatch):
    return Clocks(monkeypatch)


class Leases:
    """The `leases` collection, for the one claim query a Lease sends: {_id, $or: [holder, expired]}, upsert."""

    def __init__(self):
        self.documents = {}

    def find_one_and_update(self, query, update, upsert):
        assert upsert
        mine, lapsed = query["$or"]
        current = self.documents.get(query["_id"])
        if current and current["holder"] != mine["holder"] and not current["expires_at"] < lapsed["expires_at"]["$lt"]:
            raise DuplicateKeyError("E11000 duplicate key: the upsert met the other holder's lease")
        self.documents[query["_id"]] = {**(current or {}), **update["$set"]}
        return current

    def delete_one(self, query):
        if self.documents.get(query["_id"], {}).get("holder") == query["holder"]:
            del self.documents[query["_id"]]


class Db:
    def __init__(self):
        self.leases = Leases()


@pytest.fixture
def db():
    return Db()


def lease(db, clocks, holder):
    return Lease(db, "outbox-relay", holder, 2.0, clock=lambda: clocks.mono)


def test_one_replica_holds_the_lease_until_it_lapses_then_another_takes_it(db, clocks):
    first, second = lease(db, clocks, "pod-a"), lease(db, clocks, "pod-b")
    assert first.acquire() and first.held()
    assert not second.acquire() and not second.held()
    clocks.advance(1.9)
    assert first.held() and not second.acquire()
    clocks.advance(0.2)  # the first stopped renewing (killed): its claim lapses after the lease period
    assert not first.held()
    assert second.acquire() and second.held()
    assert not first.acquire()


def test_a_restarted_process_of_the_same_replica_takes_its_lease_over_at_once(db, clocks):
    assert lease(db, clocks, "pod-a").acquire()
    restarted = lease(db, clocks, "pod-a")
    assert restarted.acquire() and restarted.held()


def test_renewing_keeps_the_lease_and_releasing_frees_it(db, clocks):
    first, second = lease(db, clocks, "pod-a"), lease(db, clocks, "pod-b")
    for _ in range(5):
        assert first.acquire()
        clocks.advance(0.7)
    assert first.held() and not second.acquire()
    first.release()
    assert not first.held() and second.acquire()
