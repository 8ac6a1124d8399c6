"""A process killed inside a transaction, on a real wire server: a retry with the same
Idempotency-Key is told "in progress, retry after N s" at once, then, after N s, carries the
command out once, instead of waiting out the server's transaction lifetime (60 s here)."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from pymongo import MongoClient

from services.common.store import CommandInProgress
from tests.service.kernel_services import KernelStore
from tests.support.servers import REPO

pytestmark = pytest.mark.service

# Claims the key, counts inside the command's transaction (holding the counter), says so, and hangs there.
CRASHING = """
import sys, time
from pymongo import MongoClient
from tests.service.kernel_services import KernelStore
db = MongoClient(sys.argv[1], tz_aware=True)[sys.argv[2]]
store = KernelStore(db, "producer")
def command():
    db.records.update_one({"_id": "s-1"}, {"$inc": {"n": 1}}, upsert=True, session=store.session)
    print("inside", flush=True)
    time.sleep(600)
store.once_per_key("key-1", "fingerprint", command)
"""


def test_a_retry_after_a_crash_inside_the_transaction_is_answered_and_done_once(mongo_uri):
    db = MongoClient(mongo_uri, tz_aware=True)[f"t{uuid.uuid4().hex[:8]}_producer"]
    KernelStore.ensure_indexes(db)
    crashing = subprocess.Popen(
        [sys.executable, "-c", CRASHING, mongo_uri, db.name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert crashing.stdout.readline() == b"inside\n"
    os.kill(crashing.pid, signal.SIGKILL)
    crashing.wait()

    store = KernelStore(db, "producer")

    def command():
        db.records.update_one({"_id": "s-1"}, {"$inc": {"n": 1}}, upsert=True, session=store.session)
        return {"status": 201, "body": {"id": "s-1"}}

    with pytest.raises(CommandInProgress) as in_progress:
        store.once_per_key("key-1", "fingerprint", command)
    assert 0 < in_progress.value.retry_after_s <= 15
    time.sleep(in_progress.value.retry_after_s)
    assert store.once_per_key("key-1", "fingerprint", command) == ({"status": 201, "body": {"id": "s-1"}}, False)
    assert store.once_per_key("key-1", "fingerprint", command) == ({"status": 201, "body": {"id": "s-1"}}, True)
    assert list(db.records.find()) == [{"_id": "s-1", "n": 1}]
