"""Materials: filing a file with its owner (a draft application, or an annual report that is a
draft or returned), listing, removing, and reading one.

The bytes arrive and leave as streams (the service's internal HTTP entrypoint hands them over):
they go to GridFS in pieces while being hashed and counted against the limits, and the content
checks read the stored copy back in pieces; nothing holds a whole file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from services.applications.domain import content
from services.applications.domain.materials import (
    EXPERT_ROLE,
    Limits,
    Owner,
    check_changeable,
    check_kind,
    check_readable,
    watermark_text,
)
from services.common.errors import DomainError
from services.common.actor import Actor
from services.applications.domain.watermark import watermark
from services.applications.store import ApplicationsStore
from services.contracts.applications import PDF

READ_CHUNK = 256 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024


def limits_from_env(environ: Mapping[str, str] | None = None) -> Limits:
    """MATERIALS_MAX_FILE_BYTES, MATERIALS_MAX_APPLICATION_BYTES and MATERIALS_MAX_REPORT_BYTES,
    else 20 MB, 100 MB and 50 MB."""
    env = os.environ if environ is None else environ
    base = Limits()
    return Limits(
        int(env.get("MATERIALS_MAX_FILE_BYTES") or base.file_bytes),
        int(env.get("MATERIALS_MAX_APPLICATION_BYTES") or base.application_bytes),
        int(env.get("MATERIALS_MAX_REPORT_BYTES") or base.report_bytes),
    )


def chunks(body: BinaryIO, size: int = READ_CHUNK) -> Iterator[bytes]:
    while piece := body.read(size):
        yield piece


def file_material(
    store: ApplicationsStore,
    actor: Actor,
    owner: Owner,
    kind: str,
    filename: str,
    body: BinaryIO,
    limits: Limits,
    now: datetime,
) -> dict:
    """Files `body` with the actor's application or report, while its files may change; refused
    content is not kept."""
    check_kind(kind, owner.kind)
    content.check_filename(filename)
    check_changeable(store.scoped_owner_doc(owner, actor), owner.kind)
    filed = store.filed_bytes(owner)
    blob = store.put_blob(chunks(body), limits.room(filed, owner.kind))
    if blob is None:
        raise limits.refusal(filed, owner.kind)
    try:
        with store.open_blob(blob.id) as stored:
            media_type = content.media_type(stored)
    except DomainError:
        store.delete_blob(blob.id)  # not yet claimed: no one else refers to it
        raise
    # The same content filed before (or racing this upload) is kept once: this copy may give way.
    blob = store.claim_blob(blob)

    def work():
        doc = store.scoped_owner_doc(owner, actor)
        check_changeable(doc, owner.kind)
        now_filed = store.filed_bytes(owner)  # another upload may have landed meanwhile
        if blob.size > limits.room(now_filed, owner.kind):
            raise limits.refusal(now_filed, owner.kind)
        store.note_materials_changed(owner, now)
        return store.add_material(
            {
                **owner.query,
                "kind": kind,
                "filename": filename,
                "media_type": media_type,
                "size": blob.size,
                "sha256": blob.sha256,
                "blob_id": blob.id,
                "uploaded_by": actor.audit_name,
                "uploaded_at": now,
                "owner_state": doc["state"],
            }
        )

    # Refused here (frozen or over the limit meanwhile), the claimed blob stays: it is checked
    # content that another upload may already share, and filing it again reuses it.
    return store.atomic(work)


ORPHAN_AGE = timedelta(hours=1)
ORPHAN_LOOKBACK = timedelta(days=2)


def sweep_orphans(store: ApplicationsStore, now: datetime) -> int:
    """Deletes the blobs uploads that died left behind (begun between two days and an hour ago):
    run hourly, every orphan is seen by about 47 sweeps."""
    return store.sweep_unclaimed_blobs(now - ORPHAN_LOOKBACK, now - ORPHAN_AGE)


def remove_material(store: ApplicationsStore, actor: Actor, owner: Owner, material_id: str, now: datetime) -> None:
    def work():
        doc = store.scoped_owner_doc(owner, actor)
        check_changeable(doc, owner.kind)
        store.note_materials_changed(owner, now)
        store.remove_material(store.material(owner, material_id)["_id"], actor, now, doc["state"])

    store.atomic(work)


def _readable(store: ApplicationsStore, actor: Actor, owner: Owner, now: datetime) -> None:
    deadline = (
        store.review_deadline(owner.id, actor.expert_id)
        if actor.role == EXPERT_ROLE and owner.kind.experts_read
        else None
    )
    check_readable(actor, store.owner_doc(owner), deadline, now, owner.kind)


def list_materials(store: ApplicationsStore, actor: Actor, owner: Owner, now: datetime) -> list[dict]:
    _readable(store, actor, owner, now)
    return store.materials(owner)


@dataclass
class Download:
    material: Mapping
    stream: BinaryIO
    size: int
    etag: str | None  # None for a copy made for its reader (a watermarked PDF)


def open_material(store: ApplicationsStore, actor: Actor, owner: Owner, material_id: str, now: datetime) -> Download:
    """The material to send: as filed, or for an expert (whose download is recorded) a PDF
    stamped with the expert's name and the time."""
    _readable(store, actor, owner, now)
    material = store.material(owner, material_id)
    stored = store.open_blob(material["blob_id"])
    if actor.role != EXPERT_ROLE:
        return Download(material, stored, material["size"], material["sha256"])
    if material["media_type"] != PDF:
        store.record_read(material, actor, now)
        return Download(material, stored, material["size"], material["sha256"])
    copy = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    try:
        with stored:
            watermark(stored, watermark_text(actor, now), copy)
    except DomainError:
        copy.close()
        raise
    store.record_read(material, actor, now)
    size = copy.tell()
    copy.seek(0)
    return Download(material, copy, size, None)
