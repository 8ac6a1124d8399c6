"""The applications store in memory, for the use-case tests (tests/unit/applications/test_usecases.py,
test_reports.py, test_reserve.py): the reads and writes of services/applications/store.py with the
same answers and refusals (scopes, one window per year, one report per project and year, the
counters of places taken against a limit), the events checked against the applications contract
and rolled back with a refused command, as the transaction would (tests/support/unit_of_work.py).

Only the parts the use cases use are here; a test arranges the rest by writing the tables."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from services.applications.domain import access
from services.applications.domain.applications import APPLICATION_MACHINE, NOT_SELECTED
from services.applications.domain.calls import CALL_MACHINE, DRAFT as CALL_DRAFT
from services.applications.domain.messages import Bilingual, DuplicateCreditCode, NotFound
from services.applications.domain.projects import PROJECT_MACHINE
from services.common.actor import Actor
from services.applications.domain.reports import DRAFT as REPORT_DRAFT
from services.applications.domain.reports import REPORT_MACHINE, already_filed, is_due, window_exists
from services.applications.store import as_answer
from services.contracts.applications_events import EVENTS
from services.contracts.catalogue import catalogue
from tests.support.unit_of_work import InMemoryUnitOfWork


def _not_found(what_en: str, what_zh: str) -> NotFound:
    return NotFound(Bilingual(f"no such {what_en}", f"{what_zh}不存在"))


def _within(doc: Mapping | None, scope: Mapping | None) -> bool:
    return doc is not None and scope is not None and all(doc.get(k) == v for k, v in scope.items())


def _moved(
    doc: dict, machine, event: str, actor: str, at: datetime, reason: str | None, changes: Mapping | None
) -> dict:
    state, entry = machine.apply(doc["state"], event, actor, reason, at)
    return {**doc, "state": state, **(changes or {}), "history": [*doc.get("history", []), entry.as_dict()]}


class FakeApplicationsStore(InMemoryUnitOfWork):
    tables = (
        "institutions",
        "calls",
        "applications",
        "counters",
        "category_quotas",
        "selections",
        "projects",
        "materials",
        "expert_access",
        "windows",
        "reports",
        "reminders",
        "supervision_rubrics",
    )
    events = EVENTS
    catalogue = catalogue()

    def __init__(self):
        super().__init__()
        self.institutions: dict[str, dict] = {}
        self.calls: dict[str, dict] = {}
        self.applications: dict[str, dict] = {}
        self.counters: dict[str, int] = {}
        self.category_quotas: dict[str, dict] = {}
        self.selections: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.materials: list[dict] = []
        self.expert_access: dict[str, dict] = {}
        self.windows: dict[str, dict] = {}
        self.reports: dict[str, dict] = {}
        self.reminders: set[tuple] = set()
        self.supervision_rubrics: dict[int, dict] = {}

    # ------------------------------------------------------------ counters (places taken against a limit)

    def _take(self, counter: str, limit: int) -> int:
        taken = self.counters.setdefault(counter, 0)
        if taken < limit:
            self.counters[counter] = taken + 1
        return taken

    def _release(self, counter: str) -> None:
        if self.counters.get(counter, 0) > 0:
            self.counters[counter] -= 1

    def take_institution_place(self, call_id: str, institution_id: str, limit: int) -> int:
        return self._take(f"{call_id}:institution:{institution_id}", limit)

    def release_institution_place(self, call_id: str, institution_id: str) -> None:
        self._release(f"{call_id}:institution:{institution_id}")

    def take_recommendation_place(self, call_id: str, recommender_key: str, cap: int) -> int:
        return self._take(f"{call_id}:recommender:{recommender_key}", cap)

    def release_recommendation_place(self, call_id: str, recommender_key: str) -> None:
        self._release(f"{call_id}:recommender:{recommender_key}")

    # ------------------------------------------------------------ category quotas

    def quota_counter(self, category: str) -> dict:
        return dict(self.category_quotas.setdefault(category, {"selected": 0, "held": 0}))

    def hold_quota(self, category: str, quota: int) -> None:
        self.category_quotas[category]["held"] += quota

    def release_quota(self, category: str, quota: int) -> None:
        self.quota_counter(category)
        self.category_quotas[category]["held"] -= quota

    def settle_quota(self, category: str, selected: int, released: int) -> None:
        self.quota_counter(category)
        self.category_quotas[category]["selected"] += selected
        self.category_quotas[category]["held"] -= released

    def category_standing(self, category: str) -> tuple[int, int]:
        counter = self.quota_counter(category)
        return counter["selected"], counter["held"]

    # ------------------------------------------------------------ institutions

    def insert_institutions(self, docs: list[dict]) -> None:
        codes = {doc["credit_code"] for doc in self.institutions.values()}
        for doc in docs:
            if doc["credit_code"] in codes:
                raise DuplicateCreditCode(
                    Bilingual(
                        "an institution with this credit code is already registered", "该统一社会信用代码的单位已登记"
                    )
                )
            codes.add(doc["credit_code"])
            self.institutions[doc["_id"]] = copy.deepcopy(doc)

    def institution_doc(self, institution_id: str | None) -> dict | None:
        return copy.deepcopy(self.institutions.get(institution_id))

    # ------------------------------------------------------------ calls

    @staticmethod
    def sees_drafts(actor: Actor) -> bool:
        return actor.role == access.PROVINCE_ROLE

    def insert_call(self, doc: dict) -> None:
        self.calls[doc["_id"]] = copy.deepcopy(doc)

    def find_call(self, call_id: str) -> dict | None:
        return copy.deepcopy(self.calls.get(call_id))

    def call_doc(self, call_id: str) -> dict:
        if call_id not in self.calls:
            raise _not_found("call", "遴选批次")
        return copy.deepcopy(self.calls[call_id])

    def move_call(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None = None, changes: Mapping | None = None
    ) -> dict:
        moved = _moved(doc, CALL_MACHINE, event, actor, at, reason, changes)
        self.calls[doc["_id"]] = copy.deepcopy(moved)
        return moved

    def due_call_ids(self, at: datetime) -> list[str]:
        return sorted(
            c["_id"]
            for c in self.calls.values()
            if (c["state"] == CALL_DRAFT and c["opens_at"] <= at) or (c["state"] == "open" and c["closes_at"] <= at)
        )

    def count_applications(self, call_id: str, states: Iterable[str]) -> int:
        return len(self.applications_in(call_id, states))

    def keep_reserve(self, call_id: str, reserve: list, valid_until: datetime) -> None:
        if call_id in self.calls:
            self.calls[call_id].update(reserve=copy.deepcopy(reserve), reserve_valid_until=valid_until)

    # ------------------------------------------------------------ applications

    def application_doc(self, application_id: str) -> dict:
        if application_id not in self.applications:
            raise _not_found("application", "申报")
        return copy.deepcopy(self.applications[application_id])

    def scoped_application_doc(self, application_id: str, actor: Actor) -> dict:
        doc = self.applications.get(application_id)
        if doc is None or not access.may_see(actor, doc):
            raise _not_found("application", "申报")
        return copy.deepcopy(doc)

    def with_materials(self, doc: Mapping) -> dict:
        filed = [m for m in self.materials if m.get("application_id") == doc["_id"] and m["removed_at"] is None]
        return as_answer({**doc, "materials": [as_answer(m) for m in filed]})

    def insert_application(self, doc: dict) -> None:
        self.applications[doc["_id"]] = copy.deepcopy(doc)

    def update_application(self, doc: Mapping, updates: Mapping) -> dict:
        if self.applications[doc["_id"]]["state"] == doc["state"]:
            self.applications[doc["_id"]].update(copy.deepcopy(dict(updates)))
        return {**doc, **updates}

    def move_application(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None, changes: Mapping | None = None
    ) -> dict:
        moved = _moved(doc, APPLICATION_MACHINE, event, actor, at, reason, {**(changes or {}), "updated_at": at})
        self.applications[doc["_id"]] = copy.deepcopy(moved)
        return moved

    def count_others_in(self, doc: Mapping, field: str, states: Iterable[str]) -> int:
        return sum(
            other["_id"] != doc["_id"]
            and other["call_id"] == doc["call_id"]
            and other.get(field) == doc[field]
            and other["state"] in tuple(states)
            for other in self.applications.values()
        )

    def prefecture_selected(self, category: str, prefecture: str) -> bool:
        return any(s["category"] == category and s["prefecture"] == prefecture for s in self.selections.values())

    def applications_in(self, call_id: str, states: Iterable[str]) -> list[dict]:
        wanted = tuple(states)
        return [
            copy.deepcopy(a)
            for _, a in sorted(self.applications.items())
            if a["call_id"] == call_id and a["state"] in wanted
        ]

    def eligible_among(self, application_ids: Iterable[str]) -> list[dict]:
        return [
            copy.deepcopy(self.applications[i])
            for i in sorted(set(application_ids))
            if i in self.applications and self.applications[i]["state"] == "eligible"
        ]

    def open_applications_of(self, call_id: str) -> list[dict]:
        live = [s for s in APPLICATION_MACHINE.states if not APPLICATION_MACHINE.is_terminal(s)]
        return self.applications_in(call_id, live)

    # ------------------------------------------------------------ materials and experts (what the use cases ask)

    def filed_kinds(self, application_id: str) -> list[str]:
        return sorted(
            {m["kind"] for m in self.materials if m.get("application_id") == application_id and m["removed_at"] is None}
        )

    def file(self, application_id: str, kind: str) -> None:
        """A material of `kind` filed with the application (the test's shortcut past the bytes)."""
        self.materials.append(
            {
                "_id": f"mat_{len(self.materials) + 1}",
                "application_id": application_id,
                "kind": kind,
                "removed_at": None,
            }
        )

    def grant_expert_access(self, assignments: Iterable[Mapping]) -> None:
        for a in assignments:
            self.expert_access[f"{a['application_id']}:{a['expert_id']}"] = {
                "assignment_id": a["assignment_id"],
                "review_deadline": datetime.fromisoformat(a["review_deadline"]),
            }

    # ------------------------------------------------------------ selections, projects, the reserve list

    def record_selection(self, application_id: str, selection: Mapping) -> None:
        self.selections.setdefault(application_id, {}).update(copy.deepcopy(dict(selection)))

    def reserve_waiting(self, call_id: str) -> set[str]:
        return {a["_id"] for a in self.applications.values() if a["call_id"] == call_id and a["state"] == NOT_SELECTED}

    def standing_by_prefecture(self, call_id: str) -> dict[str, int]:
        return dict(
            Counter(
                s["prefecture"]
                for s in self.selections.values()
                if s["call_id"] == call_id and s.get("left_at") is None
            )
        )

    def give_place(self, left, successor: dict, at: datetime) -> None:
        self.projects[left["_id"]]["succeeded_by"] = successor["_id"]
        self.selections[successor["_id"]] = {
            "call_id": successor["call_id"],
            "category": successor["category"],
            "prefecture": successor["prefecture"],
            "succeeds": left["_id"],
        }
        self.category_quotas[successor["category"]]["selected"] += 1

    def insert_project(self, doc: dict) -> bool:
        if doc["_id"] in self.projects:
            return False
        self.projects[doc["_id"]] = copy.deepcopy(doc)
        return True

    def project_doc(self, project_id: str) -> dict | None:
        return copy.deepcopy(self.projects.get(project_id))

    def scoped_project_doc(self, project_id: str, actor: Actor) -> dict:
        doc = self.projects.get(project_id)
        if not _within(doc, access.project_scope(actor)):
            raise _not_found("project", "项目")
        return copy.deepcopy(doc)

    def move_project(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None, changes: Mapping
    ) -> dict:
        moved = _moved(doc, PROJECT_MACHINE, event, actor, at, reason, changes)
        self.projects[doc["_id"]] = copy.deepcopy(moved)
        return moved

    # ------------------------------------------------------------ annual reports: windows

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

    def extend_report_window(self, window: Mapping, entry: Mapping) -> dict:
        moved = {**window, "due_at": entry["to_due_at"], "extensions": [*window["extensions"], dict(entry)]}
        self.windows[window["_id"]] = moved
        return moved

    def due_projects(self, window: Mapping, scope: Mapping | None = None) -> list[dict]:
        if scope is None:
            return []
        return [p for _, p in sorted(self.projects.items()) if is_due(p, window) and _within(p, scope)]

    def reports_by_project(self, year: int, scope: Mapping | None = None) -> dict[str, dict]:
        if scope is None:
            return {}
        return {
            r["project_id"]: r
            for r in self.reports.values()
            if r["year"] == year and r["state"] != REPORT_DRAFT and _within(r, scope)
        }

    # ------------------------------------------------------------ annual reports: reports and reminders

    def report_doc(self, report_id: str) -> dict | None:
        return self.reports.get(report_id)

    def scoped_report_doc(self, report_id: str, actor: Actor) -> dict:
        doc = self.reports.get(report_id)
        if not _within(doc, access.project_scope(actor)):
            raise NotFound(Bilingual("no such annual report", "年度报告不存在"))
        return doc

    def insert_report(self, doc: dict) -> None:
        if doc["_id"] in self.reports:
            raise already_filed(doc["year"], self.reports[doc["_id"]]["state"])
        self.reports[doc["_id"]] = doc

    def move_report(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None, changes: Mapping
    ) -> dict:
        moved = _moved(doc, REPORT_MACHINE, event, actor, at, reason, changes)
        self.reports[doc["_id"]] = moved
        return moved

    def reminded(self, window: Mapping) -> set[str]:
        return {
            project
            for key, window_id, project, due_at in self.reminders
            if window_id == window["_id"] and due_at == window["due_at"]
        }

    def remember_reminder(self, key: str, window: Mapping, project_id: str, at: datetime) -> bool:
        if any(k == key for k, *_ in self.reminders):
            return False
        self.reminders.add((key, window["_id"], project_id, window["due_at"]))
        return True
