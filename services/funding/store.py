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

Every state change writes its ledger entries and its finance events (the outbox) in the
same transaction.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common.store import BaseStore
from services.funding.domain.allocation import CALL_ALLOCATION, Allocation, BudgetExhausted, allocate
from services.funding.domain.awards import ApprovedProject, ProjectAward, Tranche
from services.funding.domain.budget import BudgetKey, line_id
from services.funding.domain.finance_events import FinanceEvent, money
from services.funding.domain.ledger import Entry, appropriation
from services.funding.domain.milestones import FundingChange, ProjectFunding
from services.funding.domain.milestones import record_milestone as apply_milestone
from services.funding.domain.money import CURRENCY
from services.funding.domain.progress import FundedProject
from services.funding.domain.rules import FundingRule, RankNotCovered
from services.funding.events import EVENTS
from services.funding.schemas import FundingRuleSchema

RULE_FIELDS = ("award", "sources", "tranches", "clawback")


class Conflict(Exception):
    """A command that the current state does not allow (HTTP 409); the message says why."""


class RuleExists(Conflict):
    def __init__(self, rule_id: str):
        super().__init__(f"a funding rule with the id {rule_id!r} exists already; rules do not change once "
                         "calls may reference them: create one with another id")


class AllocationBlocked(Conflict):
    """The call cannot be allocated now; on selection_finalized the call stays pending with this reason."""


class NoSelection(AllocationBlocked):
    def __init__(self, call_id: str):
        super().__init__(f"no selection_finalized has arrived for call {call_id}: its approved projects are not "
                         "known yet (the call is finalized with POST /v1/calls/{id}/finalize)")


class AlreadyAllocated(Conflict):
    def __init__(self, call_id: str, year: int):
        super().__init__(f"call {call_id} is allocated already (from the {year} budget); allocation runs once per call")


class RuleMissing(AllocationBlocked):
    def __init__(self, call_id: str, rule_id: str):
        super().__init__(f"call {call_id} is funded by the funding rule {rule_id!r}, which does not exist: create it "
                         "with POST /v1/funding-rules, then allocate")


class AllocationImpossible(AllocationBlocked):
    def __init__(self, call_id: str, why: str):
        super().__init__(f"call {call_id} cannot be allocated: {why}")


class NotFundedYet(Conflict):
    def __init__(self, project_id: str, call_id: str):
        super().__init__(f"project {project_id} is approved in call {call_id}, which is not allocated yet: "
                         "its milestones are recorded once it is funded")


class BudgetLineChanged(RuntimeError):
    """A reservation's conditional update matched nothing although the transaction's
    snapshot showed enough: the isolation did not hold. The transaction is aborted;
    nothing is reserved."""


def rule_from_document(doc: dict) -> FundingRule:
    return FundingRuleSchema().load({name: doc[name] for name in RULE_FIELDS})


def funding_from_document(doc: dict) -> ProjectFunding:
    tranches = tuple(Tranche(t["index"], t["trigger"], t["percent"], t["by_source"]) for t in doc["tranches"])
    return ProjectFunding(doc["call_id"], doc["year"], doc["category"], doc["clawback"],
                          ProjectAward(doc["_id"], doc["rank"], doc["award"], tranches), doc["status"],
                          tuple(t["state"] for t in doc["tranches"]))


def funding_fields(funding: ProjectFunding) -> dict:
    """What a project's funding state sets on its document: its status and its tranches with their states."""
    return {"status": funding.status,
            "tranches": [{"index": t.index, "trigger": t.trigger, "percent": t.percent, "by_source": dict(t.by_source),
                          "state": state} for t, state in zip(funding.award.tranches, funding.tranche_states)]}


def project_document(change: FundingChange, approved: dict, at: datetime) -> dict:
    """A newly funded project's document; `approved`: its entry in the call's selection."""
    funding = change.funding
    return {"_id": funding.project_id, "project_id": funding.project_id, "call_id": funding.call_id,
            "institution_id": approved["institution_id"], "prefecture": approved["prefecture"],
            "title": approved["title"], "year": funding.year, "category": funding.category,
            "clawback": funding.clawback, "rank": funding.award.rank, "award": dict(funding.award.by_source),
            **funding_fields(funding), "milestones": [], "history": [change.audit.as_dict()],
            "created_at": at, "updated_at": at}


def _page(cursor, limit: int) -> tuple[list[dict], object | None]:
    """Items of a `limit + 1` query, and the key after which the next page starts (None: last page)."""
    items = list(cursor)
    if len(items) > limit:
        return items[:limit], items[limit - 1]["_id"]
    return items, None


class FundingStore(BaseStore):
    indexes = {
        "budget_lines": [IndexModel([("year", ASCENDING), ("category", ASCENDING)], name="by_year_category")],
        "funding_rules": [],
        "calls": [IndexModel([("approved.project_id", ASCENDING)], name="by_approved_project")],
        "projects": [IndexModel([("institution_id", ASCENDING)], name="by_institution"),
                     IndexModel([("prefecture", ASCENDING)], name="by_prefecture")],
        "ledger": [IndexModel([("project_id", ASCENDING), ("_id", ASCENDING)], name="by_project"),
                   IndexModel([("source", ASCENDING), ("_id", ASCENDING)], name="by_source")],
        "counters": [],
    }
    events = EVENTS

    # --- budgets --------------------------------------------------------------------------

    def appropriate(self, key: BudgetKey, amount: int, at: datetime) -> dict:
        """Add `amount` fen to a budget line (made on first use); returns the line."""
        def work():
            line = self.db.budget_lines.find_one_and_update(
                {"_id": line_id(key.year, key.category, key.source)},
                {"$inc": {"appropriated": amount, "available": amount}, "$set": {"updated_at": at},
                 "$setOnInsert": {"year": key.year, "category": key.category, "source": key.source,
                                  "currency": CURRENCY, "reserved": 0}},
                upsert=True, return_document=ReturnDocument.AFTER, session=self.session)
            self._append_ledger([appropriation(key, amount, at)])
            return line
        return self.atomic(work)

    def budget_lines(self, *, limit: int, after: str | None = None, **filters) -> tuple[list[dict], str | None]:
        query = {name: value for name, value in filters.items() if value is not None}
        if after is not None:
            query["_id"] = {"$gt": after}
        return _page(self.db.budget_lines.find(query, session=self.session).sort("_id", ASCENDING).limit(limit + 1),
                     limit)

    def has_budget(self, year: int, category: str) -> bool:
        return self.db.budget_lines.find_one({"year": year, "category": category}, session=self.session) is not None

    def _reserve(self, year: int, category: str, needed: dict[str, int], at: datetime) -> None:
        for source, amount in needed.items():
            if not amount:
                continue
            reserved = self.db.budget_lines.update_one(
                {"_id": line_id(year, category, source), "available": {"$gte": amount}},
                {"$inc": {"available": -amount, "reserved": amount}, "$set": {"updated_at": at}},
                session=self.session)
            if reserved.modified_count != 1:
                raise BudgetLineChanged(f"budget line {line_id(year, category, source)} no longer has {amount} fen")

    # --- funding rules --------------------------------------------------------------------

    def add_funding_rule(self, rule_id: str | None, name: str | None, rule: FundingRule, actor: str,
                         at: datetime) -> dict:
        doc = {"_id": rule_id or f"rule_{uuid.uuid4().hex[:12]}", "name": name, **rule.as_dict(),
               "created_by": actor, "created_at": at}

        def work():
            try:
                self.db.funding_rules.insert_one(doc, session=self.session)
            except DuplicateKeyError:
                raise RuleExists(doc["_id"]) from None
            return doc
        return self.atomic(work)

    def funding_rule(self, rule_id: str) -> dict | None:
        return self.db.funding_rules.find_one({"_id": rule_id}, session=self.session)

    # --- calls and allocation -------------------------------------------------------------

    def keep_selection(self, call_id: str, category: str, funding_rule: str, approved: list[dict],
                       finalized_at: datetime) -> bool:
        """Keep a call's approved projects (pending allocation). Returns False, changing
        nothing, when the call is allocated already."""
        def work():
            call = self.db.calls.find_one({"_id": call_id}, session=self.session)
            if call is not None and call["status"] == "allocated":
                return False
            self.db.calls.update_one(
                {"_id": call_id},
                {"$set": {"category": category, "funding_rule": funding_rule, "approved": approved,
                          "finalized_at": finalized_at, "pending_reason": None},
                 "$setOnInsert": {"call_id": call_id, "status": "pending", "year": None, "awards": [], "total": None,
                                  "last_shortfall": None, "history": []}},
                upsert=True, session=self.session)
            return True
        return self.atomic(work)

    def call(self, call_id: str) -> dict | None:
        return self.db.calls.find_one({"_id": call_id}, session=self.session)

    def keep_pending(self, call_id: str, reason: str) -> None:
        self.atomic(lambda: self.db.calls.update_one(
            {"_id": call_id, "status": "pending"}, {"$set": {"pending_reason": reason}}, session=self.session))

    def allocate_call(self, call_id: str, year: int, actor: str,
                      at: datetime) -> tuple[Allocation | BudgetExhausted, dict]:
        """Allocate the call's budget to its approved projects, all or nothing; returns the
        outcome and the call after it. Raises `NoSelection`, `AlreadyAllocated`,
        `RuleMissing` or `AllocationImpossible`."""
        def work():
            call = self.call(call_id)
            if call is None:
                raise NoSelection(call_id)
            if call["status"] == "allocated":
                raise AlreadyAllocated(call_id, call["year"])
            rule_doc = self.funding_rule(call["funding_rule"])
            if rule_doc is None:
                raise RuleMissing(call_id, call["funding_rule"])
            rule = rule_from_document(rule_doc)
            lines = self.db.budget_lines.find(
                {"year": year, "category": call["category"], "source": {"$in": list(rule.sources)}},
                session=self.session)
            available = {line["source"]: line["available"] for line in lines}
            try:
                projects = [ApprovedProject(p["project_id"], p["rank"], p["request"]) for p in call["approved"]]
                outcome = allocate(call_id, year, call["category"], rule, projects, available, actor=actor, at=at)
            except (RankNotCovered, ValueError) as impossible:
                raise AllocationImpossible(call_id, str(impossible)) from None
            funded = self.db.projects.find_one({"_id": {"$in": [p.project_id for p in projects]}}, session=self.session)
            if funded is not None:
                raise AllocationImpossible(call_id, f"project {funded['_id']} is funded already, "
                                                    f"by call {funded['call_id']}")
            if isinstance(outcome, BudgetExhausted):
                self._record_shortfall(call, outcome, year, actor, at)
            else:
                self._record_allocation(call, outcome, year, actor, at)
            return outcome, self.call(call_id)
        return self.atomic(work)

    def _record_shortfall(self, call: dict, refused: BudgetExhausted, year: int, actor: str, at: datetime) -> None:
        missing = ", ".join(f"{source} by {fen} fen" for source, fen in refused.shortfall.items() if fen)
        _, audit = CALL_ALLOCATION.apply(call["status"], "budget_exhausted", actor,
                                         f"the {year} budget falls short: {missing}", at)
        self.db.calls.update_one({"_id": call["_id"]}, {
            "$set": {"pending_reason": audit.reason,
                     "last_shortfall": {"year": year, "needed": money(refused.needed),
                                        "available": money(refused.available),
                                        "shortfall": money(refused.shortfall), "at": at}},
            "$push": {"history": audit.as_dict()}}, session=self.session)
        self._emit_all([refused.event])

    def _record_allocation(self, call: dict, allocation: Allocation, year: int, actor: str, at: datetime) -> None:
        self._reserve(year, call["category"], allocation.needed, at)
        approved = {p["project_id"]: p for p in call["approved"]}
        self.db.projects.insert_many([project_document(change, approved[change.funding.project_id], at)
                                      for change in allocation.changes], session=self.session)
        self._append_ledger(allocation.entries, call["_id"])
        self._emit_all(allocation.events)
        status, audit = CALL_ALLOCATION.apply(call["status"], "allocate", actor, None, at)
        moved = self.db.calls.update_one({"_id": call["_id"], "status": call["status"]}, {
            "$set": {"status": status, "year": year, "pending_reason": None, "total": money(allocation.needed),
                     "awards": [{"project_id": a.project_id, "rank": a.rank, "award": money(a.by_source)}
                                for a in allocation.awards]},
            "$push": {"history": audit.as_dict()}}, session=self.session)
        if moved.modified_count != 1:
            raise AlreadyAllocated(call["_id"], year)

    # --- projects and milestones ----------------------------------------------------------

    def project(self, project_id: str) -> dict | None:
        return self.db.projects.find_one({"_id": project_id}, session=self.session)

    def record_milestone(self, project_id: str, milestone: str, result: str, reason: str | None, actor: str,
                         at: datetime) -> tuple[dict, dict] | None:
        """Record a mid-term or acceptance result; returns (the milestone record, the project
        after it), or None for a project that is not approved. Raises `NotFundedYet`, and the
        domain's `MilestoneRefused`."""
        def work():
            doc = self.project(project_id)
            if doc is None:
                call = self.db.calls.find_one({"approved.project_id": project_id}, session=self.session)
                if call is not None:
                    raise NotFundedYet(project_id, call["_id"])
                return None
            change = apply_milestone(funding_from_document(doc), milestone, result, actor=actor, reason=reason, at=at)
            record = {"id": f"ms_{uuid.uuid4().hex[:12]}", "milestone": milestone, "result": result,
                      "reason": change.audit.reason, "recorded_by": actor, "recorded_at": at}
            after = self.db.projects.find_one_and_update(
                {"_id": project_id, "status": doc["status"]},
                {"$set": {**funding_fields(change.funding), "updated_at": at},
                 "$push": {"milestones": record, "history": change.audit.as_dict()}},
                return_document=ReturnDocument.AFTER, session=self.session)
            if after is None:
                raise Conflict(f"project {project_id} changed while its milestone was recorded; send it again")
            self._append_ledger(change.entries, doc["call_id"])
            self._emit_all(change.events)
            return record, after
        return self.atomic(work)

    def funded_projects(self, prefecture: str | None = None) -> list[FundedProject]:
        """Every funded project (of one prefecture, when given) with the milestones it passed."""
        query = {"prefecture": prefecture} if prefecture else {}
        return [FundedProject(doc["prefecture"], funding_from_document(doc),
                              tuple(m["milestone"] for m in doc["milestones"] if m["result"] == "pass"))
                for doc in self.db.projects.find(query, session=self.session)]

    # --- ledger and events ----------------------------------------------------------------

    def _append_ledger(self, entries: tuple[Entry, ...] | list[Entry], call_id: str | None = None) -> None:
        if not entries:
            return
        last = self.db.counters.find_one_and_update(
            {"_id": "ledger"}, {"$inc": {"position": len(entries)}}, upsert=True,
            return_document=ReturnDocument.AFTER, session=self.session)["position"]
        first = last - len(entries) + 1
        self.db.ledger.insert_many([{"_id": first + i, **entry.as_dict(), "call_id": call_id}
                                    for i, entry in enumerate(entries)], session=self.session)

    def ledger(self, *, limit: int, after: int | None = None, project_id: str | None = None,
               source: str | None = None) -> tuple[list[dict], int | None]:
        query: dict = {name: value for name, value in (("project_id", project_id), ("source", source)) if value}
        if after is not None:
            query["_id"] = {"$gt": after}
        return _page(self.db.ledger.find(query, session=self.session).sort("_id", ASCENDING).limit(limit + 1), limit)

    def _emit_all(self, events: tuple[FinanceEvent, ...] | list[FinanceEvent]) -> None:
        for event in events:
            self.emit(event.name, event.subject, event.data)
