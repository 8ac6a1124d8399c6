"""The funding service's nameko entrypoints: budgets, funding rules, allocation, project
funding, milestones and the ledger.

On `review.selection_finalized` the call's approved projects are kept (project id =
application id) and the call is allocated at once when its funding rule exists and
budget lines exist for (year, category). The year is the year of the finalization in
China (Asia/Shanghai, UTC+8): the event's `time` there. Otherwise the call stays
pending, with the reason, until the province allocates it (`allocate_call`, which
takes the year from the request or the current year in China). A budget that does
not cover the call allocates nothing and emits `budget_exhausted`.
"""
from __future__ import annotations

from datetime import datetime

from marshmallow import ValidationError
from nameko.rpc import rpc

from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.replies import Refused, created, idempotent, ok, problem, replying
from services.common.store import utcnow
from services.funding.domain.allocation import BudgetExhausted
from services.funding.domain.budget import CATEGORIES, BudgetKey, budget_year
from services.funding.domain.milestones import MilestoneRefused
from services.funding.domain.progress import progress_cells
from services.funding.schemas import (
    AllocationRequestSchema, BudgetLinePageSchema, BudgetLineSchema, BudgetQuerySchema, BudgetSchema,
    CallAllocationSchema, FundingRuleCreateSchema, FundingRuleOutSchema, LedgerPageSchema, LedgerQuerySchema,
    MilestoneRecordedSchema, MilestoneSchema, ProjectFundingSchema, decode_cursor, encode_cursor, project_view,
)
from services.funding.store import AllocationBlocked, Conflict, FundingStore, funding_from_document
from services.review.events import EVENTS as REVIEW_EVENTS

#: Who allocates a call on its selection_finalized, in the audit and the ledger.
SYSTEM_ACTOR = "system:funding"
#: The roles that see every project's money; an institution sees its own projects only.
MONEY_READERS = ("province", "finance")
#: The roles that supervise progress: the province every prefecture, a prefecture bureau its own.
SUPERVISORS = ("province", "prefecture")


def who(actor: dict) -> str:
    return f"{actor['role']}:{actor['sub']}"


def page(items: list[dict], after, schema) -> dict:
    return schema.dump({"items": items, "next_cursor": None if after is None else encode_cursor(after)})


def shortfall_problem(refused: BudgetExhausted, year: int, category: str) -> dict:
    short = {source: fen for source, fen in refused.shortfall.items() if fen}
    return problem(
        409, f"The {year} budget of {category} does not cover call {refused.call_id}: nothing was allocated "
             f"(short by {sum(short.values())} fen). See GET /v1/calls/{refused.call_id}/allocation.",
        type="budget-exhausted",
        errors={f"shortfall.{source}": [f"needs {refused.needed[source]} fen, {refused.available[source]} available: "
                                        f"short by {fen} fen"] for source, fen in short.items()})


class FundingService(ChuyiService):
    name = "funding"
    store = MongoStore(FundingStore)

    # --- budgets --------------------------------------------------------------------------

    @rpc
    @replying()
    def create_budget(self, actor, budget, idempotency_key=None, request_fingerprint=None):
        data = BudgetSchema().load(budget)
        key = BudgetKey(data["year"], data["category"], data["source"])
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: created(
            BudgetLineSchema().dump(self.store.appropriate(key, data["amount"], utcnow()))))

    @rpc
    @replying()
    def list_budgets(self, actor, query=None):
        query = BudgetQuerySchema().load(query or {})
        items, after = self.store.budget_lines(limit=query["limit"], after=decode_cursor(query.get("cursor"), str),
                                               year=query.get("year"), category=query.get("category"),
                                               source=query.get("source"))
        return ok(page(items, after, BudgetLinePageSchema()))

    # --- funding rules --------------------------------------------------------------------

    @rpc
    @replying({Conflict: 409})
    def create_funding_rule(self, actor, rule, idempotency_key=None, request_fingerprint=None):
        data = FundingRuleCreateSchema().load(rule)
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: created(
            FundingRuleOutSchema().dump(self.store.add_funding_rule(data["id"], data["name"], data["rule"],
                                                                    who(actor), utcnow()))))

    @rpc
    @replying()
    def get_funding_rule(self, actor, rule_id):
        rule = self.store.funding_rule(rule_id)
        if rule is None:
            raise Refused(404, f"There is no funding rule {rule_id!r}.")
        return ok(FundingRuleOutSchema().dump(rule))

    # --- allocation -----------------------------------------------------------------------

    @rpc
    @replying({Conflict: 409})
    def allocate_call(self, actor, call_id, allocation=None, idempotency_key=None, request_fingerprint=None):
        year = AllocationRequestSchema().load(allocation or {}).get("year") or budget_year(utcnow())

        def command():
            outcome, call = self.store.allocate_call(call_id, year, who(actor), utcnow())
            if isinstance(outcome, BudgetExhausted):
                return shortfall_problem(outcome, year, call["category"])
            return created(CallAllocationSchema().dump(call))
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, command)

    @rpc
    @replying()
    def get_allocation(self, actor, call_id):
        call = self.store.call(call_id)
        if call is None:
            raise Refused(404, f"No selection_finalized has arrived for call {call_id}: nothing to allocate yet.")
        return ok(CallAllocationSchema().dump(call))

    @handles("review", "selection_finalized")
    def selection_finalized(self, event):
        data = REVIEW_EVENTS["selection_finalized"].load(event.data)
        if data["category"] not in CATEGORIES:
            raise ValidationError({"category": [f"not a catalogue category: {data['category']!r}"]})
        call_id, category = data["call_id"], data["category"]
        approved = [{"project_id": a["application_id"], "institution_id": a["institution_id"],
                     "prefecture": a["prefecture"], "title": a["title"], "rank": a["rank"],
                     "request": a["budget_request_fen"]} for a in data["approved"]]
        finalized_at = datetime.fromisoformat(event.time)
        if not self.store.keep_selection(call_id, category, data["funding_rule"], approved, finalized_at):
            return
        year = budget_year(finalized_at)
        if not self.store.has_budget(year, category):
            self.store.keep_pending(call_id, f"no budget line for {year} {category} yet: add the budget "
                                             "(POST /v1/budgets), then allocate")
            return
        try:
            self.store.allocate_call(call_id, year, SYSTEM_ACTOR, utcnow())
        except AllocationBlocked as blocked:
            self.store.keep_pending(call_id, str(blocked))

    # --- projects -------------------------------------------------------------------------

    def _visible_project(self, actor, project_id) -> dict:
        doc = self.store.project(project_id)
        mine = actor["role"] == "institution" and doc is not None and doc["institution_id"] == actor["institution_id"]
        if doc is None or not (actor["role"] in MONEY_READERS or mine):
            raise Refused(404, f"There is no funding for project {project_id}.")
        return doc

    @rpc
    @replying()
    def get_project_funding(self, actor, project_id):
        doc = self._visible_project(actor, project_id)
        return ok(ProjectFundingSchema().dump(project_view(doc, funding_from_document(doc))))

    @rpc
    @replying({Conflict: 409, MilestoneRefused: 409})
    def record_milestone(self, actor, project_id, milestone, idempotency_key=None, request_fingerprint=None):
        data = MilestoneSchema().load(milestone)

        def command():
            recorded = self.store.record_milestone(project_id, data["milestone"], data["result"], data["reason"],
                                                   who(actor), utcnow())
            if recorded is None:
                raise Refused(404, f"There is no approved project {project_id}.")
            record, after = recorded
            return created(MilestoneRecordedSchema().dump(
                {**record, "project_id": project_id, "funding": project_view(after, funding_from_document(after))}))
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, command)

    # --- ledger ---------------------------------------------------------------------------

    @rpc
    @replying()
    def list_ledger(self, actor, query=None):
        query = LedgerQuerySchema().load(query or {})
        items, after = self.store.ledger(limit=query["limit"], after=decode_cursor(query.get("cursor"), int),
                                         project_id=query.get("project_id"), source=query.get("source"))
        return ok(page(items, after, LedgerPageSchema()))

    # --- supervision ----------------------------------------------------------------------

    @rpc
    @replying()
    def progress_report(self, actor):
        """The funded projects' money by source and milestones passed, per (category,
        prefecture): every prefecture for the province, its own for a prefecture bureau."""
        if actor["role"] not in SUPERVISORS:
            raise Refused(403, f"The role {actor['role']} may not see the progress report.")
        prefecture = actor["prefecture"] if actor["role"] == "prefecture" else None
        return ok({"cells": progress_cells(self.store.funded_projects(prefecture))})
