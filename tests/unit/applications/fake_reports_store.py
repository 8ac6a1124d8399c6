"""The part of the applications store the annual-report use cases use, in memory: the same
answers and refusals (scopes, one window per year, one report per project and year), the
events checked against the applications contract as the real store's emit checks them."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime

from services.applications.domain import access
from services.applications.domain.messages import Bilingual, NotFound
from services.applications.domain.recommendation import Actor
from services.applications.domain.reports import DRAFT, REPORT_MACHINE, already_filed, is_due, window_exists
from services.contracts.applications_events import EVENTS


def _visible(doc: Mapping | None, actor: Actor) -> bool:
    scope = access.project_scope(actor)
    return doc is not None and scope is not None and all(doc.get(k) == v for k, v in scope.items())


class FakeReportsStore:
    def __init__(self):
        self.projects: dict[str, dict] = {}
        self.windows: dict[str, dict] = {}
        self.reports: dict[str, dict] = {}
        self.reminders: set[tuple[str, str]] = set()
        self.events: list[tuple[str, str, dict]] = []

    def atomic(self, work):
        """All or nothing, as a transaction: a refusal leaves nothing behind."""
        saved = copy.deepcopy((self.windows, self.reports, self.reminders, self.events))
        try:
            return work()
        except Exception:
            self.windows, self.reports, self.reminders, self.events = saved
            raise

    def emit(self, name: str, subject: str, data: dict) -> None:
        errors = EVENTS[name].validate(data)
        assert not errors, f"{name}: {errors}"
        self.events.append((name, subject, data))

    # projects
    def project_doc(self, project_id: str) -> dict | None:
        return self.projects.get(project_id)

    def scoped_project_doc(self, project_id: str, actor: Actor) -> dict:
        doc = self.projects.get(project_id)
        if not _visible(doc, actor):
            raise NotFound(Bilingual("no such project", "项目不存在"))
        return doc

    # windows
    def insert_report_window(self, doc: dict) -> None:
        if any(w["year"] == doc["year"] for w in self.windows.values()):
            raise window_exists(doc["year"])
        self.windows[doc["_id"]] = doc

    def report_window(self, window_id: str) -> dict:
        if window_id not in self.windows:
            raise NotFound(Bilingual("no such reporting window", "年度报告填报批次不存在"))
        return self.windows[window_id]

    def report_window_of_year(self, year: int) -> dict | None:
        return next((w for w in self.windows.values() if w["year"] == year), None)

    def report_windows_running(self, at: datetime) -> list[dict]:
        return [w for w in self.windows.values() if w["opens_at"] <= at < w["due_at"]]

    def report_windows_past_due(self, at: datetime) -> list[dict]:
        return [w for w in self.windows.values() if w["due_at"] <= at and w.get("missing_announced_at") is None]

    def mark_missing_announced(self, window: Mapping, at: datetime) -> bool:
        if self.windows[window["_id"]].get("missing_announced_at") is not None:
            return False
        self.windows[window["_id"]] = {**self.windows[window["_id"]], "missing_announced_at": at}
        return True

    def due_projects(self, window: Mapping, scope: Mapping | None = None) -> list[dict]:
        if scope is None:
            return []
        return [p for _, p in sorted(self.projects.items())
                if is_due(p, window) and all(p.get(k) == v for k, v in scope.items())]

    def reports_by_project(self, year: int, scope: Mapping | None = None) -> dict[str, dict]:
        if scope is None:
            return {}
        return {r["project_id"]: r for r in self.reports.values()
                if r["year"] == year and r["state"] != DRAFT and all(r.get(k) == v for k, v in scope.items())}

    # reports
    def report_doc(self, report_id: str) -> dict | None:
        return self.reports.get(report_id)

    def scoped_report_doc(self, report_id: str, actor: Actor) -> dict:
        doc = self.reports.get(report_id)
        if not _visible(doc, actor):
            raise NotFound(Bilingual("no such annual report", "年度报告不存在"))
        return doc

    def insert_report(self, doc: dict) -> None:
        if doc["_id"] in self.reports:
            raise already_filed(doc["year"], self.reports[doc["_id"]]["state"])
        self.reports[doc["_id"]] = doc

    def move_report(self, doc: dict, event: str, actor: str, at: datetime, reason: str | None,
                    changes: Mapping) -> dict:
        state, entry = REPORT_MACHINE.apply(doc["state"], event, actor, reason, at)
        moved = {**doc, **changes, "state": state, "history": [*doc["history"], entry.as_dict()]}
        self.reports[doc["_id"]] = moved
        return moved

    # reminders
    def extend_report_window(self, window: Mapping, entry: Mapping) -> dict:
        moved = {**window, "due_at": entry["to_due_at"], "extensions": [*window["extensions"], dict(entry)]}
        self.windows[window["_id"]] = moved
        return moved

    def reminded(self, window: Mapping) -> set[str]:
        return {project for key, window_id, project, due_at in self.reminders
                if window_id == window["_id"] and due_at == window["due_at"]}

    def remember_reminder(self, key: str, window: Mapping, project_id: str, at: datetime) -> bool:
        if any(k == key for k, *_ in self.reminders):
            return False
        self.reminders.add((key, window["_id"], project_id, window["due_at"]))
        return True
