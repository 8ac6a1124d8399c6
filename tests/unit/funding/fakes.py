"""The funding store in memory (cosmicpython's fake repository): the same methods the use
cases call, over dicts; `atomic` and `emit` are the unit of work's
(tests/support/unit_of_work.py)."""

from __future__ import annotations

import copy
from datetime import datetime

from services.funding.domain.budget import line_id
from services.funding.domain.refusals import RuleExists
from services.contracts.funding_events import EVENTS
from services.funding.store import (
    BudgetLineChanged,
    funding_fields,
    funding_from_document,
    project_document,
    rule_from_document,
)
from tests.support.unit_of_work import InMemoryUnitOfWork


class FakeFundingStore(InMemoryUnitOfWork):
    tables = ("budget_lines", "funding_rules", "calls", "projects", "ledger")
    events = EVENTS

    def __init__(self):
        super().__init__()
        self.budget_lines: dict[str, dict] = {}
        self.funding_rules: dict[str, dict] = {}
        self.calls: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.ledger: list[dict] = []

    # --- budgets --------------------------------------------------------------------------

    def add_to_budget_line(self, key, amount: int, at: datetime) -> dict:
        line = self.budget_lines.setdefault(
            line_id(key.year, key.category, key.source),
            {
                "_id": line_id(key.year, key.category, key.source),
                "year": key.year,
                "category": key.category,
                "source": key.source,
                "appropriated": 0,
                "available": 0,
                "reserved": 0,
            },
        )
        line.update(appropriated=line["appropriated"] + amount, available=line["available"] + amount, updated_at=at)
        return dict(line)

    def has_budget(self, year: int, category: str) -> bool:
        return any(line["year"] == year and line["category"] == category for line in self.budget_lines.values())

    def claim_budget_lines(self, year, category, sources, at) -> dict[str, int]:
        return {
            line["source"]: line["available"]
            for line in self.budget_lines.values()
            if line["year"] == year and line["category"] == category and line["source"] in set(sources)
        }

    def reserve(self, year, category, needed, at) -> None:
        for source, amount in needed.items():
            line = self.budget_lines.get(line_id(year, category, source))
            if amount and (line is None or line["available"] < amount):
                raise BudgetLineChanged(source)
            if amount:
                line.update(available=line["available"] - amount, reserved=line["reserved"] + amount)

    # --- funding rules --------------------------------------------------------------------

    def add_funding_rule(self, doc: dict) -> dict:
        if doc["_id"] in self.funding_rules:
            raise RuleExists(doc["_id"])
        self.funding_rules[doc["_id"]] = doc
        return doc

    def funding_rule(self, rule_id):
        return self.funding_rules.get(rule_id)

    def rule(self, rule_id):
        doc = self.funding_rule(rule_id)
        return None if doc is None else rule_from_document(doc)

    # --- calls ----------------------------------------------------------------------------

    def call(self, call_id):
        return copy.deepcopy(self.calls.get(call_id))

    def call_approving(self, project_id):
        return next((c for c in self.calls.values() if project_id in {p["project_id"] for p in c["approved"]}), None)

    def keep_selection(self, call_id, category, funding_rule, approved, finalized_at, action_year) -> None:
        call = self.calls.setdefault(
            call_id,
            {
                "_id": call_id,
                "call_id": call_id,
                "status": "pending",
                "year": None,
                "awards": [],
                "total": None,
                "last_shortfall": None,
                "history": [],
            },
        )
        call.update(
            category=category,
            funding_rule=funding_rule,
            approved=approved,
            finalized_at=finalized_at,
            action_year=action_year,
            pending_reason=None,
        )

    def add_approved(self, call_id, approved) -> None:
        self.calls[call_id]["approved"].append(approved)

    def add_award(self, call_id, award, total) -> None:
        self.calls[call_id]["awards"].append(award)
        self.calls[call_id]["total"] = total

    def note_unfunded(self, call_id, project_id, reason, at) -> None:
        self.calls[call_id].setdefault("unfunded", []).append({"project_id": project_id, "reason": reason, "at": at})

    def keep_pending(self, call_id, reason) -> None:
        if self.calls[call_id]["status"] == "pending":
            self.calls[call_id]["pending_reason"] = reason

    def move_call(self, call_id, from_status, status, changes, audit) -> bool:
        call = self.calls[call_id]
        if call["status"] != from_status:
            return False
        call.update(status=status, **changes)
        call["history"].append(audit.as_dict())
        return True

    # --- projects -------------------------------------------------------------------------

    def project(self, project_id):
        return copy.deepcopy(self.projects.get(project_id))

    def project_funding(self, project_id):
        doc = self.projects.get(project_id)
        return None if doc is None else funding_from_document(doc)

    def funded_among(self, project_ids):
        return next((self.projects[i] for i in project_ids if i in self.projects), None)

    def add_projects(self, changes, approved, at) -> None:
        for change in changes:
            doc = project_document(change, approved[change.funding.project_id], at)
            self.projects[doc["_id"]] = doc

    def change_project_funding(self, change, from_status, record, at):
        doc = self.projects[change.funding.project_id]
        if doc["status"] != from_status:
            return None
        doc.update(**funding_fields(change.funding), updated_at=at)
        if record:
            doc["milestones"].append(record)
        doc["history"].append(change.audit.as_dict())
        return copy.deepcopy(doc)

    def note_refused(self, project_id, entry) -> None:
        doc = self.projects.get(project_id)
        if doc is not None:
            doc["history"].append({**entry, "from_state": doc["status"], "to_state": doc["status"]})

    # --- ledger ---------------------------------------------------------------------------

    def append_ledger(self, entries, call_id=None) -> None:
        first = len(self.ledger) + 1
        self.ledger += [{"_id": first + i, **entry.as_dict(), "call_id": call_id} for i, entry in enumerate(entries)]
