"""The funding service's MongoDB repository: the only code that knows its collections.

- `budget_lines`: one per (year, category, source), `_id` `<year>:<category>:<source>`,
  with `appropriated`, `reserved` and `available` fen. A reservation is a conditional
  `$inc` (`available >= amount`), all lines of an allocation in one transaction, so a
  line never goes below zero whatever runs in parallel.
- `funding_rules`: `_id` the rule id; the rule as `FundingRule.as_dict()`.
- `calls`: `_id` the call id; the approved projects of its `selection_finalized`, the
  allocation's state (`CALL_ALLOCATION`), its awards and its audit.
- `projects`: `_id` the project id (the approved application's id); its award, tranche
  states, milestones and audit.
- `ledger`: one double entry per document, `_id` its position. Positions come from one
  counter written in the entries' own transaction, so they follow commit order: a reader
  paging by position never misses an entry committed after its page.

The use cases (usecases/) decide with the domain and write each state change with its
ledger entries and its finance events (the outbox) in one transaction through this store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common.statemachine import AuditEntry
from services.common import pages
from services.common.store import BaseStore
from services.contracts.funding import CURRENCY
from services.funding.domain.awards import ProjectAward, Tranche
from services.funding.domain.budget import BudgetKey, line_id
from services.funding.domain.ledger import Entry
from services.funding.domain.milestones import FundingChange, ProjectFunding
from services.funding.domain.progress import FundedProject
from services.funding.domain.refusals import RuleExists
from services.contracts.funding_rules import FundingRule
from services.contracts.funding_events import EVENTS
from services.contracts.funding_api import FundingRuleSchema

RULE_FIELDS = ("award", "sources", "tranches", "clawback")


class BudgetLineChanged(RuntimeError):
    """A reservation's conditional update matched nothing although the transaction's
    snapshot showed enough: the isolation did not hold. The transaction is aborted;
    nothing is reserved."""


def rule_from_document(doc: dict) -> FundingRule:
    return FundingRuleSchema().load({name: doc[name] for name in RULE_FIELDS})


def funding_from_document(doc: dict) -> ProjectFunding:
    tranches = tuple(Tranche(t["index"], t["trigger"], t["percent"], t["by_source"]) for t in doc["tranches"])
    return ProjectFunding(
        doc["call_id"],
        doc["year"],
        doc["category"],
        doc["clawback"],
        ProjectAward(doc["_id"], doc["rank"], doc["award"], tranches),
        doc["status"],
        tuple(t["state"] for t in doc["tranches"]),
    )


def funding_fields(funding: ProjectFunding) -> dict:
    """What a project's funding state sets on its document: its status and its tranches with their states."""
    return {
        "status": funding.status,
        "tranches": [
            {
                "index": t.index,
                "trigger": t.trigger,
                "percent": t.percent,
                "by_source": dict(t.by_source),
                "state": state,
            }
            for t, state in zip(funding.award.tranches, funding.tranche_states)
        ],
    }


def project_document(change: FundingChange, approved: dict, at: datetime) -> dict:
    """A newly funded project's document; `approved`: its entry in the call's selection."""
    funding = change.funding
    return {
        "_id": funding.project_id,
        "project_id": funding.project_id,
        "call_id": funding.call_id,
        "institution_id": approved["institution_id"],
        "prefecture": approved["prefecture"],
        "title": approved["title"],
        "year": funding.year,
        "category": funding.category,
        "clawback": funding.clawback,
        "rank": funding.award.rank,
        "award": dict(funding.award.by_source),
        **funding_fields(funding),
        "milestones": [],
        "history": [change.audit.as_dict()],
        "created_at": at,
        "updated_at": at,
    }


class FundingStore(BaseStore):
    indexes = {
        "budget_lines": [IndexModel([("year", ASCENDING), ("category", ASCENDING)], name="by_year_category")],
        "funding_rules": [],
        "calls": [IndexModel([("approved.project_id", ASCENDING)], name="by_approved_project")],
        "projects": [
            IndexModel([("institution_id", ASCENDING)], name="by_institution"),
            IndexModel([("prefecture", ASCENDING)], name="by_prefecture"),
        ],
        "ledger": [
            IndexModel([("project_id", ASCENDING), ("_id", ASCENDING)], name="by_project"),
            IndexModel([("source", ASCENDING), ("_id", ASCENDING)], name="by_source"),
        ],
        "counters": [],
    }
    events = EVENTS

    # --- budgets --------------------------------------------------------------------------

    def add_to_budget_line(self, key: BudgetKey, amount: int, at: datetime) -> dict:
        """Add `amount` fen to a budget line (made on first use); returns the line."""
        return self.db.budget_lines.find_one_and_update(
            {"_id": line_id(key.year, key.category, key.source)},
            {
                "$inc": {"appropriated": amount, "available": amount},
                "$set": {"updated_at": at},
                "$setOnInsert": {
                    "year": key.year,
                    "category": key.category,
                    "source": key.source,
                    "currency": CURRENCY,
                    "reserved": 0,
                },
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )

    def budget_lines(self, *, limit: int, cursor: str | None = None, **filters) -> tuple[list[dict], str | None]:
        query = {name: value for name, value in filters.items() if value is not None}
        return pages.page(self.db.budget_lines, query, pages.BY_ID, limit, cursor, self.session)

    def has_budget(self, year: int, category: str) -> bool:
        return self.db.budget_lines.find_one({"year": year, "category": category}, session=self.session) is not None

    def claim_budget_lines(self, year: int, category: str, sources: Iterable[str], at: datetime) -> dict[str, int]:
        """What the lines an allocation draws on have available, by source; the lines are written
        to first: a concurrent allocation of the same lines then conflicts at once and waits its
        turn, instead of doing all its work before conflicting at the reservation and starting over."""
        query = {"year": year, "category": category, "source": {"$in": list(sources)}}
        self.db.budget_lines.update_many(query, {"$set": {"claimed_at": at}}, session=self.session)
        return {line["source"]: line["available"] for line in self.db.budget_lines.find(query, session=self.session)}

    def reserve(self, year: int, category: str, needed: Mapping[str, int], at: datetime) -> None:
        for source, amount in needed.items():
            if not amount:
                continue
            reserved = self.db.budget_lines.update_one(
                {"_id": line_id(year, category, source), "available": {"$gte": amount}},
                {"$inc": {"available": -amount, "reserved": amount}, "$set": {"updated_at": at}},
                session=self.session,
            )
            if reserved.modified_count != 1:
                raise BudgetLineChanged(f"budget line {line_id(year, category, source)} no longer has {amount} fen")

    # --- funding rules --------------------------------------------------------------------

    def add_funding_rule(self, doc: dict) -> dict:
        try:
            self.db.funding_rules.insert_one(doc, session=self.session)
        except DuplicateKeyError:
            raise RuleExists(doc["_id"]) from None
        return doc

    def funding_rule(self, rule_id: str) -> dict | None:
        return self.db.funding_rules.find_one({"_id": rule_id}, session=self.session)

    def rule(self, rule_id: str) -> FundingRule | None:
        doc = self.funding_rule(rule_id)
        return None if doc is None else rule_from_document(doc)

    # --- calls ----------------------------------------------------------------------------

    def call(self, call_id: str) -> dict | None:
        return self.db.calls.find_one({"_id": call_id}, session=self.session)

    def call_approving(self, project_id: str) -> dict | None:
        return self.db.calls.find_one({"approved.project_id": project_id}, session=self.session)

    def keep_selection(
        self,
        call_id: str,
        category: str,
        funding_rule: str,
        approved: list[dict],
        finalized_at: datetime,
        action_year: int | None,
    ) -> None:
        """Keep a call's approved projects, the call pending allocation (made on first use)."""
        self.db.calls.update_one(
            {"_id": call_id},
            {
                "$set": {
                    "category": category,
                    "funding_rule": funding_rule,
                    "approved": approved,
                    "finalized_at": finalized_at,
                    "action_year": action_year,
                    "pending_reason": None,
                },
                "$setOnInsert": {
                    "call_id": call_id,
                    "status": "pending",
                    "year": None,
                    "awards": [],
                    "total": None,
                    "last_shortfall": None,
                    "history": [],
                },
            },
            upsert=True,
            session=self.session,
        )

    def add_approved(self, call_id: str, approved: dict) -> None:
        """A successor from the call's reserve list joins its approved projects."""
        self.db.calls.update_one({"_id": call_id}, {"$push": {"approved": approved}}, session=self.session)

    def add_award(self, call_id: str, award: dict, total: dict) -> None:
        """A successor's award joins the allocated call's awards; `total`: the call's new total."""
        self.db.calls.update_one(
            {"_id": call_id}, {"$push": {"awards": award}, "$set": {"total": total}}, session=self.session
        )

    def note_unfunded(self, call_id: str, project_id: str, reason: str, at: datetime) -> None:
        """A successor the budget did not cover: it waits, with the reason."""
        self.db.calls.update_one(
            {"_id": call_id},
            {"$push": {"unfunded": {"project_id": project_id, "reason": reason, "at": at}}},
            session=self.session,
        )

    def keep_pending(self, call_id: str, reason: str) -> None:
        self.db.calls.update_one(
            {"_id": call_id, "status": "pending"}, {"$set": {"pending_reason": reason}}, session=self.session
        )

    def move_call(self, call_id: str, from_status: str, status: str, changes: dict, audit: AuditEntry) -> bool:
        """Set the call's allocation state and `changes` with its audit entry, if it is still in
        `from_status`; False if it is not."""
        return (
            self.db.calls.update_one(
                {"_id": call_id, "status": from_status},
                {"$set": {"status": status, **changes}, "$push": {"history": audit.as_dict()}},
                session=self.session,
            ).modified_count
            == 1
        )

    # --- projects and milestones ----------------------------------------------------------

    def project(self, project_id: str) -> dict | None:
        return self.db.projects.find_one({"_id": project_id}, session=self.session)

    def project_funding(self, project_id: str) -> ProjectFunding | None:
        doc = self.project(project_id)
        return None if doc is None else funding_from_document(doc)

    def funded_among(self, project_ids: Iterable[str]) -> dict | None:
        """One of these projects that is funded already (by any call), or None."""
        return self.db.projects.find_one({"_id": {"$in": list(project_ids)}}, session=self.session)

    def add_projects(self, changes: Iterable[FundingChange], approved: Mapping[str, dict], at: datetime) -> None:
        """The newly funded projects; `approved`: each one's entry in its call's selection, by project id."""
        self.db.projects.insert_many(
            [project_document(change, approved[change.funding.project_id], at) for change in changes],
            session=self.session,
        )

    def change_project_funding(
        self, change: FundingChange, from_status: str, record: dict | None, at: datetime
    ) -> dict | None:
        """The project's funding after a milestone (with its `record`) or a withdrawal, with the
        audit entry, if the project is still in `from_status`; answers the project after it, or None."""
        pushed = {"history": change.audit.as_dict(), **({"milestones": record} if record else {})}
        changed = self.db.projects.update_one(
            {"_id": change.funding.project_id, "status": from_status},
            {"$set": {**funding_fields(change.funding), "updated_at": at}, "$push": pushed},
            session=self.session,
        )
        return self.project(change.funding.project_id) if changed.matched_count else None

    def note_refused(self, project_id: str, entry: dict) -> None:
        """An audit entry in the project's history for a result it did not take (its state stays)."""
        doc = self.project(project_id)
        if doc is not None:
            self.db.projects.update_one(
                {"_id": project_id},
                {"$push": {"history": {**entry, "from_state": doc["status"], "to_state": doc["status"]}}},
                session=self.session,
            )

    def funded_projects(self, prefecture: str | None = None) -> list[FundedProject]:
        """Every funded project (of one prefecture, when given) with the milestones it passed."""
        query = {"prefecture": prefecture} if prefecture else {}
        return [
            FundedProject(
                doc["prefecture"],
                funding_from_document(doc),
                tuple(m["milestone"] for m in doc["milestones"] if m["result"] == "pass"),
                tuple(m["milestone"] for m in doc["milestones"] if m["result"] == "fail"),
            )
            for doc in self.db.projects.find(query, session=self.session)
        ]

    # --- ledger ---------------------------------------------------------------------------

    def append_ledger(self, entries: Iterable[Entry], call_id: str | None = None) -> None:
        entries = list(entries)
        if not entries:
            return
        last = self.db.counters.find_one_and_update(
            {"_id": "ledger"},
            {"$inc": {"position": len(entries)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )["position"]
        first = last - len(entries) + 1
        self.db.ledger.insert_many(
            [{"_id": first + i, **entry.as_dict(), "call_id": call_id} for i, entry in enumerate(entries)],
            session=self.session,
        )

    def ledger(
        self, *, limit: int, cursor: str | None = None, project_id: str | None = None, source: str | None = None
    ) -> tuple[list[dict], str | None]:
        query: dict = {name: value for name, value in (("project_id", project_id), ("source", source)) if value}
        return pages.page(self.db.ledger, query, pages.BY_ID, limit, cursor, self.session)
