"""The part of the applications store that giving a left project's place to its call's reserve
list uses, in memory: the same answers and refusals, the events checked against the
applications contract and rolled back with a refused command (tests/support/unit_of_work.py)."""
from __future__ import annotations

import copy
from collections import Counter
from datetime import datetime

from services.applications.domain import access
from services.applications.domain.applications import APPLICATION_MACHINE, NOT_SELECTED
from services.applications.domain.messages import Bilingual, NotFound
from services.applications.domain.recommendation import Actor
from services.contracts.applications_events import EVENTS
from services.contracts.catalogue import catalogue
from tests.support.unit_of_work import InMemoryUnitOfWork


class FakeReserveStore(InMemoryUnitOfWork):
    tables = ("calls", "applications", "projects", "selections", "category_quotas")
    events = EVENTS
    catalogue = catalogue()

    def __init__(self):
        super().__init__()
        self.calls: dict[str, dict] = {}
        self.applications: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.selections: dict[str, dict] = {}
        self.category_quotas: dict[str, dict] = {}

    def scoped_project_doc(self, project_id: str, actor: Actor) -> dict:
        doc, scope = self.projects.get(project_id), access.project_scope(actor)
        if doc is None or scope is None or any(doc.get(k) != v for k, v in scope.items()):
            raise NotFound(Bilingual("no such project", "项目不存在"))
        return copy.deepcopy(doc)

    def call_doc(self, call_id: str) -> dict:
        return copy.deepcopy(self.calls[call_id])

    def application_doc(self, application_id: str) -> dict:
        return copy.deepcopy(self.applications[application_id])

    def move_application(self, doc: dict, event: str, actor: str, at: datetime, reason: str | None) -> dict:
        state, entry = APPLICATION_MACHINE.apply(doc["state"], event, actor, reason, at)
        stored = self.applications[doc["_id"]]
        stored.update(state=state, updated_at=at)
        stored.setdefault("history", []).append(entry.as_dict())
        return copy.deepcopy(stored)

    def category_standing(self, category: str) -> tuple[int, int]:
        counter = self.category_quotas.setdefault(category, {"selected": 0, "held": 0})
        return counter["selected"], counter["held"]

    def reserve_waiting(self, call_id: str) -> set[str]:
        return {a["_id"] for a in self.applications.values() if a["call_id"] == call_id and a["state"] == NOT_SELECTED}

    def standing_by_prefecture(self, call_id: str) -> dict[str, int]:
        return dict(Counter(s["prefecture"] for s in self.selections.values()
                            if s["call_id"] == call_id and s.get("left_at") is None))

    def give_place(self, left, successor: dict, at: datetime) -> None:
        self.projects[left["_id"]]["succeeded_by"] = successor["_id"]
        self.selections[successor["_id"]] = {"call_id": successor["call_id"], "category": successor["category"],
                                             "prefecture": successor["prefecture"], "succeeds": left["_id"]}
        self.category_quotas[successor["category"]]["selected"] += 1

    def insert_project(self, doc: dict) -> bool:
        if doc["_id"] in self.projects:
            return False
        self.projects[doc["_id"]] = copy.deepcopy(doc)
        return True
