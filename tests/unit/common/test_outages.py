import logging

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from services.common import store
from services.common.outages import Outages, QuietDuringOutage, StoreBusy
from services.common.store import BaseStore


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    clock = iter([10.0, 17.5, 17.5]).__next__
    outages = Outages(clock=clock)
    with caplog.at_level(logging.INFO, logger="services.common.outages"):
        for _ in range(50):
            outages.down("mongodb", ServerSelectionTimeoutError("refused"))
        assert outages.is_down("mongodb")
        outages.up("mongodb")
        outages.up("mongodb")
    assert [r.getMessage() for r in caplog.records] == [
        "mongodb is not available; requests answer 503 until it is back",
        "mongodb is back after 7.5 s",
    ]
    assert not outages.is_down("mongodb")


def record(error):
    try:
        raise error
    except type(error):
        return logging.LogRecord(
            "nameko.containers", logging.ERROR, __file__, 1, "error handling worker", (), __import__("sys").exc_info()
        )


def test_a_worker_failing_for_the_database_is_not_logged_per_request_but_a_bug_is():
    outages = Outages()
    quiet = QuietDuringOutage(outages)
    assert not quiet.filter(record(ServerSelectionTimeoutError("refused")))
    assert not quiet.filter(record(StoreBusy("no commit within 4 s")))
    assert outages.is_down("mongodb")
    assert quiet.filter(record(KeyError("x")))


class Session:
    """A session whose transactions always meet a write conflict (another writer holds the record)."""

    def __init__(self, log):
        self.log, self.in_transaction = log, False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def start_transaction(self, **options):
        self.log.append(("start", options["max_commit_time_ms"]))
        self.in_transaction = True

    def commit_transaction(self):
        self.in_transaction = False
        raise OperationFailure("WriteConflict", code=112, details={"errorLabels": ["TransientTransactionError"]})

    def abort_transaction(self):
        self.in_transaction = False


class Db:
    def __init__(self):
        self.log = []
        self.client = self

    def start_session(self):
        return Session(self.log)


def test_a_transaction_that_cannot_commit_within_its_budget_gives_up_with_store_busy(monkeypatch):
    monkeypatch.setattr(store, "TRANSACTION_BUDGET_S", 0.1)
    db = Db()
    with pytest.raises(StoreBusy):
        BaseStore(db, "applications").atomic(lambda: "written")
    assert len(db.log) >= 2, "a write conflict is retried while the budget lasts"
    assert {max_commit for _, max_commit in db.log} == {store.MAX_COMMIT_MS}


def test_an_error_of_the_work_itself_is_not_retried(monkeypatch):
    db = Db()

    def work():
        raise ValueError("bad data")

    with pytest.raises(ValueError):
        BaseStore(db, "applications").atomic(work)
    assert len(db.log) == 1
