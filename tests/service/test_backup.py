"""Backup and restore on a real wire server: every collection and index comes back, files and
all, a damaged backup is refused, so is a target that holds data, and a restored subject's next
event continues its sequence."""

import json
import uuid

import gridfs
import pytest
from pymongo import MongoClient

from chuyi.backup import BackupError, backup, restore
from services.common.config import Settings
from tests.service.kernel_services import KernelStore


@pytest.fixture
def client(mongo_uri):
    with MongoClient(mongo_uri, tz_aware=True) as c:
        yield c


def settings(mongo_uri):
    return Settings(mongo_uri=mongo_uri, mongo_db_prefix=f"t{uuid.uuid4().hex[:8]}_")


def seed(client, source):
    db = client[source.database_name("producer")]
    KernelStore.ensure_indexes(db)
    store = KernelStore(db, "producer")
    for n in (1, 2, 3):
        store.record("s-1", n)
    db.outbox.update_many({}, {"$set": {"sent_at": db.outbox.find_one()["staged_at"]}})
    gridfs.GridFS(db).put("成绩表".encode() * 1000, filename="scores.xlsx")
    return db, store


def test_a_restored_platform_has_every_record_and_file_and_continues_each_subject(client, mongo_uri, tmp_path):
    source, target = settings(mongo_uri), settings(mongo_uri)
    db, _ = seed(client, source)
    summary = backup(tmp_path / "b", source, services=("producer",))
    assert summary.databases["producer"]["records"] == 3 and summary.databases["producer"]["fs.chunks"] >= 1

    restored = restore(tmp_path / "b", target)
    copy = client[target.database_name("producer")]

    def documents(collection):  # restore marks recently published events unsent: see below
        return sorted((repr({k: v for k, v in d.items() if k != "sent_at"}) for d in collection.find()))

    assert sorted(copy.list_collection_names()) == sorted(db.list_collection_names())
    for name in db.list_collection_names():
        assert documents(copy[name]) == documents(db[name]), name
    assert gridfs.GridFS(copy).find_one({"filename": "scores.xlsx"}).read() == "成绩表".encode() * 1000
    assert {i["name"] for i in copy.outbox.list_indexes()} == {i["name"] for i in db.outbox.list_indexes()}
    assert restored.replayed_events == 3, (
        "events published just before the backup go out again (consumers skip those they have)"
    )
    assert copy.outbox.count_documents({"sent_at": None}) == 3

    store = KernelStore(copy, "producer")
    event = store.atomic(lambda: store.emit("recorded", "s-1", {"n": 4}))
    assert event.sequence == 4


def test_a_damaged_backup_or_a_target_with_data_is_refused_before_anything_is_written(client, mongo_uri, tmp_path):
    source, target = settings(mongo_uri), settings(mongo_uri)
    seed(client, source)
    backup(tmp_path / "b", source, services=("producer",))
    with pytest.raises(BackupError, match="not empty"):
        backup(tmp_path / "b", source, services=("producer",))
    with pytest.raises(BackupError, match="already holds data"):
        restore(tmp_path / "b", source)

    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    damaged = tmp_path / "b" / "producer" / "records.bson"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x01")
    with pytest.raises(BackupError, match="checksum"):
        restore(tmp_path / "b", target)
    assert "producer/records.bson" in manifest["files"]
    assert client[target.database_name("producer")].list_collection_names() == []
