"""`python -m chuyi backup DIR` and `python -m chuyi restore DIR`: every service's database, dumped
and rebuilt with plain pymongo.

A backup holds, per service database, one file of BSON documents per collection (GridFS's
`fs.files` and `fs.chunks` are collections like any other, so stored files come along), the
collection's index definitions, and a `manifest.json` naming every file with its document count
and SHA-256. Each database is read through one snapshot session, so it is consistent in itself
(on a server without snapshot reads, as the embedded one, the manifest says so).

The databases are not read at one instant together. What one service consumed from another may
lag behind what the other had published when the backup was taken; restore therefore marks the
events each outbox published in the last `REPLAY_WINDOW` before the backup as unsent, and the
relays publish them again: every consumer applies each event once (it skips those it has), so a
restored platform carries on where its parts left off, and each subject's sequence continues
(the per-subject counters are restored with everything else).

Restore verifies every checksum before it writes anything, and refuses a target that already
holds data: it rebuilds an empty platform, never merges into a running one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bson
from pymongo import IndexModel, MongoClient
from pymongo.errors import OperationFailure

from services.common.config import SERVICES, Settings

MANIFEST = "manifest.json"
FORMAT = "chuyi-backup/1"
REPLAY_WINDOW = timedelta(minutes=15)
_BATCH = 500


class BackupError(Exception):
    """The backup cannot be restored (a checksum differs, a file is missing) or the target is not empty."""


@dataclass(frozen=True)
class Summary:
    databases: dict[str, dict[str, int]]  # service -> collection -> documents
    replayed_events: int = 0

    def lines(self) -> list[str]:
        out = [
            f"{service}: " + ", ".join(f"{name} {count}" for name, count in sorted(collections.items()))
            for service, collections in sorted(self.databases.items())
        ]
        if self.replayed_events:
            out.append(f"events to publish again: {self.replayed_events}")
        return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


SNAPSHOT_UNAVAILABLE = 246


def _snapshot_session(client: MongoClient, db):
    """A snapshot session (MongoDB 5.0+ on a replica set) and True; where the server offers none,
    an ordinary session and False (the manifest says so; the replay window then covers it)."""
    session = client.start_session(snapshot=True)
    try:
        db.command("listCollections", nameOnly=True, session=session)
        next(iter(db.get_collection("outbox").find({}, session=session).limit(1)), None)
        return session, True
    except OperationFailure as exc:
        session.end_session()
        if exc.code != SNAPSHOT_UNAVAILABLE:
            raise
        return client.start_session(), False


def backup(directory: Path, settings: Settings | None = None, services=tuple(SERVICES)) -> Summary:
    settings = settings or Settings.from_env()
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty; a backup goes into a directory of its own")
    taken_at = datetime.now(timezone.utc)
    files, counts, snapshots = {}, {}, {}
    with MongoClient(settings.mongo_uri, tz_aware=True) as client:
        for service in services:
            db = client[settings.database_name(service)]
            (directory / service).mkdir()
            counts[service] = {}
            session, snapshots[service] = _snapshot_session(client, db)
            with session:
                for name in sorted(db.list_collection_names(session=session)):
                    documents = directory / service / f"{name}.bson"
                    count = 0
                    with documents.open("wb") as out:
                        for document in db[name].find({}, session=session).sort("_id", 1):
                            out.write(bson.encode(document))
                            count += 1
                    indexes = directory / service / f"{name}.indexes.json"
                    specs = [dict(spec) for spec in db[name].list_indexes(session=session) if spec["name"] != "_id_"]
                    indexes.write_text(json.dumps(specs, ensure_ascii=False, default=str, indent=1), encoding="utf-8")
                    counts[service][name] = count
                    for path in (documents, indexes):
                        files[str(path.relative_to(directory))] = {"sha256": _sha256(path), "documents": count}
    manifest = {
        "format": FORMAT,
        "taken_at": taken_at.isoformat().replace("+00:00", "Z"),
        "databases": {service: settings.database_name(service) for service in services},
        "snapshot": snapshots,
        "files": files,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return Summary(counts)


def verify(directory: Path) -> dict:
    """The manifest, once every file it names is present with its checksum; raises BackupError."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{directory / MANIFEST} cannot be read: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{directory} is not a {FORMAT} backup (format {manifest.get('format')!r})")
    for name, entry in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise BackupError(f"{name} is missing from the backup")
        if _sha256(path) != entry["sha256"]:
            raise BackupError(f"{name} does not match its checksum: the backup is damaged")
    return manifest


def restore(directory: Path, settings: Settings | None = None) -> Summary:
    settings = settings or Settings.from_env()
    manifest = verify(directory)
    taken_at = datetime.fromisoformat(manifest["taken_at"].replace("Z", "+00:00"))
    services = sorted(manifest["databases"])
    with MongoClient(settings.mongo_uri, tz_aware=True) as client:
        for service in services:
            db = client[settings.database_name(service)]
            held = [name for name in db.list_collection_names() if db[name].estimated_document_count()]
            if held:
                raise BackupError(
                    f"{db.name} already holds data ({', '.join(sorted(held))}); restore rebuilds an empty platform only"
                )
        counts, replayed = {}, 0
        for service in services:
            db = client[settings.database_name(service)]
            counts[service] = {}
            for documents in sorted((directory / service).glob("*.bson")):
                name = documents.name[: -len(".bson")]
                counts[service][name] = _load(db, name, documents)
                specs = json.loads((directory / service / f"{name}.indexes.json").read_text(encoding="utf-8"))
                if specs:
                    db[name].create_indexes([_index_model(spec) for spec in specs])
            if "outbox" in counts[service]:
                replayed += db.outbox.update_many(
                    {"sent_at": {"$gte": taken_at - REPLAY_WINDOW}}, {"$set": {"sent_at": None}}
                ).modified_count
    return Summary(counts, replayed)


def _load(db, name: str, path: Path) -> int:
    if name not in db.list_collection_names():
        db.create_collection(name)
    count, batch = 0, []
    for document in bson.decode_file_iter(path.open("rb"), codec_options=bson.CodecOptions(tz_aware=True)):
        batch.append(document)
        if len(batch) == _BATCH:
            db[name].insert_many(batch, ordered=False)
            count, batch = count + len(batch), []
    if batch:
        db[name].insert_many(batch, ordered=False)
        count += len(batch)
    return count


def _index_model(spec: dict) -> IndexModel:
    options = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
    return IndexModel(list(spec["key"].items()), **options)
