"""Supervision: the weights the province sets for a year's rubric (the facts are a read)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.applications.domain.recommendation import Actor
from services.applications.store import ApplicationsStore


def set_weights(store: ApplicationsStore, year: int, weights: Mapping[str, int], actor: Actor, at: datetime) -> dict:
    """The year's weights, each setting kept in the rubric's history."""
    return store.atomic(lambda: store.save_supervision_weights(year, weights, actor.audit_name, at))
