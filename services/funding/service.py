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
from services.common.rpc import rpc

from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.bilingual import Bilingual
from services.common.actor import audit_name
from services.common.replies import Refused, bilingual, created, idempotent, ok, problem, replying, require_role
from services.common.clock import utcnow
from services.funding.domain.allocation import BudgetExhausted
from services.funding.domain.budget import CATEGORIES, BudgetKey
from services.funding.domain.guides import GUIDES
from services.funding.domain.progress import progress_cells
from services.funding.schemas import project_view
from services.contracts.funding_api import (
    AllocationRequestSchema,
    BudgetLinePageSchema,
    BudgetLineSchema,
    BudgetQuerySchema,
    BudgetSchema,
    CallAllocationSchema,
    FundingRuleCreateSchema,
    FundingRuleOutSchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    MilestoneRecordedSchema,
    MilestoneSchema,
    ProjectFundingSchema,
    WithdrawalSchema,
)
from services.funding.store import FundingStore, funding_from_document
from services.funding.usecases import budgets, calls, projects
from services.funding.usecases import panels as panel_cases
from services.contracts.project_events import EVENTS as PROJECT_EVENTS
from services.contracts.review_events import EVENTS as REVIEW_EVENTS

#: The roles that see every project's money; an institution sees its own projects only.
MONEY_READERS = ("province", "finance")
#: The roles that supervise progress: the province every prefecture, a prefecture bureau its own.
SUPERVISORS = ("province", "prefecture")
#: Who reads a funding rule: those who set, pay, apply or recommend under it.
RULE_READERS = ("province", "finance", "institution", "prefecture")
PROVINCE = ("province",)
# Every entrypoint answers by the reply contract, the domain's refusals as problems; a state
# machine's refusal is explained by its guide (domain/guides.py).
answering = replying(GUIDES)


def shortfall_problem(refused: BudgetExhausted, year: int, category: str) -> dict:
    short = {source: fen for source, fen in refused.shortfall.items() if fen}
    detail = Bilingual(
        f"The {year} budget of {category} does not cover call {refused.call_id}: nothing was allocated "
        f"(short by {sum(short.values())} fen). Add budget lines (POST /v1/budgets), then allocate; "
        f"see GET /v1/calls/{refused.call_id}/allocation.",
        f"{year}年{category}预算不足以覆盖批次 {refused.call_id}，未分配任何资金（缺口{sum(short.values())}分）。"
        f"请增加预算（POST /v1/budgets）后再分配；详见 GET /v1/calls/{refused.call_id}/allocation。",
    )
    return problem(
        409,
        bilingual(detail),
        type="budget-exhausted",
        errors={
            f"shortfall.{source}": [
                bilingual(
                    Bilingual(
                        f"needs {refused.needed[source]} fen, {refused.available[source]} available: short by {fen} fen",
                        f"需{refused.needed[source]}分，可用{refused.available[source]}分，缺{fen}分",
                    )
                )
            ]
            for source, fen in short.items()
        },
    )


class FundingService(ChuyiService):
    name = "funding"
    store = MongoStore(FundingStore)

    # --- budgets --------------------------------------------------------------------------

    @rpc
    @answering
    @idempotent
    def create_budget(self, actor, budget):
        require_role(actor, PROVINCE)
        data = BudgetSchema().load(budget)
        key = BudgetKey(data["year"], data["category"], data["source"])
        return lambda: created(BudgetLineSchema().dump(budgets.appropriate(self.store, key, data["amount"], utcnow())))

    @rpc
    @answering
    def list_budgets(self, actor, query=None):
        require_role(actor, MONEY_READERS)
        query = BudgetQuerySchema().load(query or {})
        items, next_cursor = self.store.budget_lines(
            limit=query["limit"],
            cursor=query.get("cursor"),
            year=query.get("year"),
            category=query.get("category"),
            source=query.get("source"),
        )
        return ok(BudgetLinePageSchema().dump({"items": items, "next_cursor": next_cursor}))

    # --- funding rules --------------------------------------------------------------------

    @rpc
    @answering
    @idempotent
    def create_funding_rule(self, actor, rule):
        require_role(actor, PROVINCE)
        data = FundingRuleCreateSchema().load(rule)
        return lambda: created(
            FundingRuleOutSchema().dump(
                budgets.add_funding_rule(
                    self.store, data["id"], data["name"], data["rule"], audit_name(actor), utcnow()
                )
            )
        )

    @rpc
    @answering
    def get_funding_rule(self, actor, rule_id):
        require_role(actor, RULE_READERS)
        rule = self.store.funding_rule(rule_id)
        if rule is None:
            raise Refused(404, Bilingual(f"There is no funding rule {rule_id!r}.", f"不存在资金规则 {rule_id}。"))
        return ok(FundingRuleOutSchema().dump(rule))

    # --- allocation -----------------------------------------------------------------------

    @rpc
    @answering
    @idempotent
    def allocate_call(self, actor, call_id, allocation=None):
        require_role(actor, PROVINCE)
        year = AllocationRequestSchema().load(allocation or {}).get("year")

        def command():
            outcome, call = calls.allocate_call(self.store, call_id, year, audit_name(actor), utcnow())
            if isinstance(outcome, BudgetExhausted):
                return shortfall_problem(outcome, call["last_shortfall"]["year"], call["category"])
            return created(CallAllocationSchema().dump(call))

        return command

    @rpc
    @answering
    def get_allocation(self, actor, call_id):
        require_role(actor, MONEY_READERS)
        call = self.store.call(call_id)
        if call is None:
            raise Refused(
                404,
                Bilingual(
                    f"No selection_finalized has arrived for call {call_id}: nothing to allocate yet.",
                    f"尚未收到批次 {call_id} 的立项结果（selection_finalized），暂无可分配的资金。",
                ),
            )
        return ok(CallAllocationSchema().dump(call))

    @handles("review", "selection_finalized")
    def selection_finalized(self, event):
        data = REVIEW_EVENTS["selection_finalized"].load(event.data)
        if data["category"] not in CATEGORIES:
            raise ValidationError({"category": [f"not a catalogue category: {data['category']!r}"]})
        calls.selection_finalized(self.store, data, datetime.fromisoformat(event.time), utcnow())

    @handles("applications", "project_replaced")
    def project_replaced(self, event):
        calls.project_replaced(self.store, PROJECT_EVENTS["project_replaced"].load(event.data), utcnow())

    # --- projects -------------------------------------------------------------------------

    def _visible_project(self, actor, project_id) -> dict:
        doc = self.store.project(project_id)
        mine = actor["role"] == "institution" and doc is not None and doc["institution_id"] == actor["institution_id"]
        if doc is None or not (actor["role"] in MONEY_READERS or mine):
            raise Refused(
                404, Bilingual(f"There is no funding for project {project_id}.", f"项目 {project_id} 没有资金记录。")
            )
        return doc

    @rpc
    @answering
    def get_project_funding(self, actor, project_id):
        require_role(actor, (*MONEY_READERS, "institution"))
        doc = self._visible_project(actor, project_id)
        return ok(ProjectFundingSchema().dump(project_view(doc, funding_from_document(doc))))

    @rpc
    @answering
    @idempotent
    def record_milestone(self, actor, project_id, milestone):
        require_role(actor, PROVINCE)
        data = MilestoneSchema().load(milestone)

        def command():
            recorded = projects.record_milestone(
                self.store, project_id, data["milestone"], data["result"], data["reason"], audit_name(actor), utcnow()
            )
            if recorded is None:
                raise Refused(
                    404, Bilingual(f"There is no approved project {project_id}.", f"不存在已立项的项目 {project_id}。")
                )
            record, after = recorded
            return created(
                MilestoneRecordedSchema().dump(
                    {**record, "project_id": project_id, "funding": project_view(after, funding_from_document(after))}
                )
            )

        return command

    @rpc
    @answering
    @idempotent
    def withdraw_project(self, actor, project_id, withdrawal):
        require_role(actor, PROVINCE)
        data = WithdrawalSchema().load(withdrawal)

        def command():
            after = projects.withdraw_project(self.store, project_id, data["reason"], audit_name(actor), utcnow())
            if after is None:
                raise Refused(
                    404, Bilingual(f"There is no approved project {project_id}.", f"不存在已立项的项目 {project_id}。")
                )
            return ok(ProjectFundingSchema().dump(project_view(after, funding_from_document(after))))

        return command

    @handles("review", "panel_result_confirmed")
    def panel_result_confirmed(self, event):
        """A mid-term or acceptance panel's result, confirmed by the province: recorded as the
        project's milestone result, as the province's direct record is."""
        data = REVIEW_EVENTS["panel_result_confirmed"].load(event.data)
        panel_cases.record_panel_result(self.store, data, utcnow())

    # --- ledger ---------------------------------------------------------------------------

    @rpc
    @answering
    def list_ledger(self, actor, query=None):
        require_role(actor, MONEY_READERS)
        query = LedgerQuerySchema().load(query or {})
        items, next_cursor = self.store.ledger(
            limit=query["limit"],
            cursor=query.get("cursor"),
            project_id=query.get("project_id"),
            source=query.get("source"),
        )
        return ok(LedgerPageSchema().dump({"items": items, "next_cursor": next_cursor}))

    # --- supervision ----------------------------------------------------------------------

    @rpc
    @answering
    def progress_report(self, actor):
        """The funded projects' money by source and milestones passed, per (category,
        prefecture): every prefecture for the province, its own for a prefecture bureau."""
        require_role(actor, SUPERVISORS)
        prefecture = actor["prefecture"] if actor["role"] == "prefecture" else None
        return ok({"cells": progress_cells(self.store.funded_projects(prefecture))})
