"""The same content uploaded concurrently is stored once, and what dead uploads left is swept: the uploads race on the content's
claim (a `material_contents` document whose `_id` is the SHA-256) on a real wire server, and
every loser drops its copy and uses the winner's blob."""

import threading
import uuid

import pytest
from pymongo import MongoClient

from services.applications.store import BLOBS, ApplicationsStore, Blob

pytestmark = pytest.mark.service

RACERS = 6


def test_racing_uploads_of_the_same_content_keep_one_blob(mongo_uri):
    db = MongoClient(mongo_uri, tz_aware=True)[f"dedup_{uuid.uuid4().hex[:8]}"]
    ApplicationsStore.ensure_indexes(db)
    data = uuid.uuid4().bytes * 40_000  # 640 kB: three GridFS chunks each
    # Every racer has streamed its copy before any claims, the worst case for a check-then-write.
    blobs = [
        ApplicationsStore(db, "applications").put_blob([data[:300_000], data[300_000:]], len(data))
        for _ in range(RACERS)
    ]
    assert len({blob.id for blob in blobs}) == RACERS and len({blob.sha256 for blob in blobs}) == 1
    barrier, kept = threading.Barrier(RACERS), []

    def claim(blob):
        barrier.wait()
        kept.append(ApplicationsStore(db, "applications").claim_blob(blob))

    threads = [threading.Thread(target=claim, args=(blob,)) for blob in blobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kept) == RACERS and len({blob.id for blob in kept}) == 1, "every racer uses the one blob"
    winner = kept[0].id
    assert db[f"{BLOBS}.files"].count_documents({}) == 1 and db[f"{BLOBS}.files"].find_one()["_id"] == winner
    assert db[f"{BLOBS}.chunks"].count_documents({}) == 3, "the losers' chunks are gone"
    assert db.material_contents.find_one({"_id": blobs[0].sha256})["blob_id"] == winner
    with ApplicationsStore(db, "applications").open_blob(winner) as stored:
        assert stored.read() == data
    db.client.drop_database(db.name)


def test_what_dead_uploads_left_is_swept_and_nothing_claimed(mongo_uri):
    from datetime import datetime, timedelta, timezone

    from bson import ObjectId

    from services.applications.usecases.materials import sweep_orphans

    db = MongoClient(mongo_uri, tz_aware=True)[f"sweep_{uuid.uuid4().hex[:8]}"]
    ApplicationsStore.ensure_indexes(db)
    store = ApplicationsStore(db, "applications")
    now = datetime.now(timezone.utc)

    def aged(blob, hours):  # as if uploaded `hours` ago: the blob's id carries its time
        old_id = ObjectId.from_datetime(now - timedelta(hours=hours))
        old_id = ObjectId(old_id.binary[:4] + blob.id.binary[4:])
        for name in ("files", "chunks"):
            key = "_id" if name == "files" else "files_id"
            for doc in list(db[f"{BLOBS}.{name}"].find({key: blob.id})):
                db[f"{BLOBS}.{name}"].delete_one({"_id": doc["_id"]})
                db[f"{BLOBS}.{name}"].insert_one({**doc, key: old_id} if name == "chunks" else {**doc, "_id": old_id})
        return Blob(old_id, blob.size, blob.sha256)

    claimed = store.claim_blob(aged(store.put_blob([b"claimed" * 100], 10**6), 3))
    aged(store.put_blob([b"died before its claim" * 100], 10**6), 3)  # unclaimed: swept
    recent = store.put_blob([b"an upload under way"], 10**6)
    half = aged(store.put_blob([b"died while streaming" * 100], 10**6), 5)
    db[f"{BLOBS}.files"].delete_one({"_id": half.id})
    assert sweep_orphans(store, now) == 2
    assert {doc["_id"] for doc in db[f"{BLOBS}.files"].find()} == {claimed.id, recent.id}
    assert set(db[f"{BLOBS}.chunks"].distinct("files_id")) == {claimed.id, recent.id}
    db.client.drop_database(db.name)
