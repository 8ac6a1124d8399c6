"""Budgets, funding rules, allocation, project funding, milestones and the ledger, served
by the funding service. Money is integer fen with `currency: "CNY"`."""

from __future__ import annotations

from flask import Blueprint, url_for

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
from services.gateway.routing import Call, operation

SERVICE = "funding"
TAG = "funding"
MONEY_READERS = {"province", "finance"}
bp = Blueprint("funding", __name__)


@bp.post("/v1/budgets")
@operation(
    summary="Fund a budget line (year, category, source)",
    description="Adds `amount` fen to the line, which is made on first use; answers the line with what is "
    "appropriated, reserved by allocations and available. Every appropriation is a ledger entry.",
    tag=TAG,
    roles={"province"},
    body=BudgetSchema,
    idempotent=True,
    responses={201: BudgetLineSchema},
)
def create_budget(call: Call):
    return call.rpc(SERVICE, "create_budget", budget=call.body).response()


@bp.get("/v1/budgets")
@operation(
    summary="The budget lines, with appropriated, reserved and available fen",
    tag=TAG,
    roles=MONEY_READERS,
    query=BudgetQuerySchema,
    responses={200: BudgetLinePageSchema},
)
def list_budgets(call: Call):
    return call.rpc(SERVICE, "list_budgets", query=call.query).response()


@bp.post("/v1/funding-rules")
@operation(
    summary="Create a funding rule: award, sources, tranches and claw-back",
    description="Calls reference the rule by its id (their `funding_rule`); give the id, or one is made. A rule "
    "never changes once created. Its own checks (tiers from rank 1 without gap, tranche percentages "
    "summing to 100, ...) answer 422 naming the field, e.g. `award.tiers.1.from_rank`.",
    tag=TAG,
    roles={"province"},
    body=FundingRuleCreateSchema,
    idempotent=True,
    responses={201: FundingRuleOutSchema},
    problems=(409,),
)
def create_funding_rule(call: Call):
    reply = call.rpc(SERVICE, "create_funding_rule", rule=call.body)
    return reply.response(location=url_for(".get_funding_rule", rule_id=reply.created_id()))


@bp.get("/v1/funding-rules/<rule_id>")
@operation(
    summary="One funding rule",
    tag=TAG,
    roles={"province", "finance", "institution", "prefecture"},
    responses={200: FundingRuleOutSchema},
)
def get_funding_rule(call: Call, rule_id: str):
    return call.rpc(SERVICE, "get_funding_rule", rule_id=rule_id).response()


@bp.post("/v1/calls/<call_id>/allocation")
@operation(
    summary="Allocate the call's budget to its approved projects, all or nothing",
    description="The approved projects come from the call's selection_finalized; without it, 409. The budget year "
    "is `year`, or this year in China (UTC+8). Each project gets its award by the call's funding rule, "
    "reserved from the budget lines of (year, category, source), and its approval tranche is released. "
    "When the budget does not cover every project, nothing is allocated: 409 of type "
    "`budget-exhausted` whose errors say per source (`shortfall.<source>`) by how much, and "
    "`budget_exhausted` is published. A call is allocated on its own when its selection_finalized "
    "arrives, its funding rule exists and budget lines exist for the year of the finalization in China; "
    "GET the allocation to see whether it is still pending, and why.",
    tag=TAG,
    roles={"province"},
    body=AllocationRequestSchema,
    idempotent=True,
    responses={201: CallAllocationSchema},
    problems=(409,),
)
def allocate_call(call: Call, call_id: str):
    reply = call.rpc(SERVICE, "allocate_call", call_id=call_id, allocation=call.body)
    return reply.response(location=url_for(".get_allocation", call_id=call_id))


@bp.get("/v1/calls/<call_id>/allocation")
@operation(
    summary="A call's allocation: pending (and why) or allocated, with each project's award",
    tag=TAG,
    roles=MONEY_READERS,
    responses={200: CallAllocationSchema},
)
def get_allocation(call: Call, call_id: str):
    return call.rpc(SERVICE, "get_allocation", call_id=call_id).response()


@bp.get("/v1/projects/<project_id>/funding")
@operation(
    summary="A project's money: award by source, tranches and their states, released, withheld, clawed back",
    description="An institution sees its own projects only; another's is answered 404.",
    tag=TAG,
    roles={"institution", "province", "finance"},
    responses={200: ProjectFundingSchema},
)
def get_project_funding(call: Call, project_id: str):
    return call.rpc(SERVICE, "get_project_funding", project_id=project_id).response()


@bp.post("/v1/projects/<project_id>/milestones")
@operation(
    summary="Record a mid-term review or acceptance result: pass, rectify or fail",
    description="pass releases the milestone's tranche; rectify holds it until a later pass (reason required); "
    "fail withholds every unpaid tranche and claws back what the rule's claw-back policy names (reason "
    "required); nothing is recorded after a fail or a passed acceptance (409). Acceptance needs a "
    "passed mid-term review. A project whose call is not allocated yet is answered 409.",
    tag=TAG,
    roles={"province"},
    body=MilestoneSchema,
    idempotent=True,
    responses={201: MilestoneRecordedSchema},
    problems=(409,),
)
def record_milestone(call: Call, project_id: str):
    reply = call.rpc(SERVICE, "record_milestone", project_id=project_id, milestone=call.body)
    return reply.response(location=url_for(".get_project_funding", project_id=project_id))


@bp.post("/v1/projects/<project_id>/withdrawal")
@operation(
    summary="Withdraw a project (撤销): it leaves the action and its place returns to its category",
    description="While the project waits for its mid-term review or acceptance (the institution asked, or the "
    "province decided; reason required): every unpaid tranche is withheld and the released ones the "
    "rule's claw-back policy names are clawed back, as on a fail of the milestone it waits for; "
    "finance systems get `project_withdrawn` after the tranche events. 409 once the project has "
    "completed, failed or been withdrawn, or while its call is not allocated.",
    tag=TAG,
    roles={"province"},
    body=WithdrawalSchema,
    idempotent=True,
    responses={200: ProjectFundingSchema},
    problems=(409,),
)
def withdraw_project(call: Call, project_id: str):
    return call.rpc(SERVICE, "withdraw_project", project_id=project_id, withdrawal=call.body).response()


@bp.get("/v1/funding/ledger")
@operation(
    summary="The double-entry ledger: every movement of money, in commit order",
    description="Each entry debits one account and credits another of the same source by `amount` fen: "
    "appropriation (budget <- appropriation), reservation (reserved <- budget), release "
    "(released <- reserved), withholding (withheld <- reserved), clawback (clawed_back <- released).",
    tag=TAG,
    roles=MONEY_READERS,
    query=LedgerQuerySchema,
    responses={200: LedgerPageSchema},
)
def list_ledger(call: Call):
    return call.rpc(SERVICE, "list_ledger", query=call.query).response()
