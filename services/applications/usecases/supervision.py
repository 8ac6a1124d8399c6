"""Supervision: the facts of each prefecture for a year, and the weights the province sets for
the year's rubric."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.applications.domain import access
from services.contracts.reference import PREFECTURES
from services.common.actor import Actor
from services.applications.domain.reports import timeliness
from services.applications.domain.supervision import prefecture_facts
from services.applications.store import ApplicationsStore


def facts(store: ApplicationsStore, actor: Actor, year: int, at: datetime) -> dict:
    """The register's and the projects' facts of each prefecture in the actor's scope, and
    the weights the province set for the year (None: the default rubric)."""
    scope = access.scope(actor)
    prefectures = PREFECTURES if not scope else (scope["prefecture"],)
    rows = prefecture_facts(prefectures, store.institutions_in(scope), store.standing_projects(scope, year), year)
    rubric = store.supervision_rubric(year)
    in_province = store.count_standing_projects(year)
    window = store.report_window_of_year(year)
    timely = (
        {}
        if window is None
        else timeliness(window, store.due_projects(window, scope), store.reports_by_project(year, scope), at)
    )
    for row in rows:
        row["reports"] = timely.get(row["prefecture"], {"due": 0, "on_time": 0})
    return {
        "year": year,
        "weights": rubric["weights"] if rubric else None,
        "projects_in_province": in_province,
        "prefectures": rows,
    }


def set_weights(store: ApplicationsStore, year: int, weights: Mapping[str, int], actor: Actor, at: datetime) -> dict:
    """The year's weights, each setting kept in the rubric's history."""
    return store.atomic(lambda: store.save_supervision_weights(year, weights, actor.audit_name, at))
