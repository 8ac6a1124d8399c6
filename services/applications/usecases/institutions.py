"""The register of institutions: the province registers one, or imports a file of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from services.contracts.reference import Institution
from services.common.actor import Actor
from services.applications.store import ApplicationsStore, as_answer, new_id


def _record(data: Mapping, actor: Actor, at: datetime) -> dict:
    """The institution as registered, with the key of the authority that recommends its applications."""
    institution = Institution.from_record(data)
    return {
        "_id": new_id("inst"),
        **data,
        "recommender_key": institution.recommender.key,
        "created_at": at,
        "created_by": actor.audit_name,
    }


def register(store: ApplicationsStore, data: Mapping, actor: Actor, at: datetime) -> dict:
    """One institution; DuplicateCreditCode when its credit code is registered already."""
    doc = _record(data, actor, at)
    store.atomic(lambda: store.insert_institutions([doc]))
    return as_answer(doc)


def register_all(store: ApplicationsStore, rows: Iterable[Mapping], actor: Actor, at: datetime) -> list[str]:
    """All in one transaction: every row, or none."""
    docs = [_record(row, actor, at) for row in rows]
    store.atomic(lambda: store.insert_institutions(docs))
    return [doc["_id"] for doc in docs]
