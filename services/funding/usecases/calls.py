"""A call's allocation: its approved projects arrive with review's selection_finalized, and the
call's budget goes to them all or nothing, at once when the budget is there, else when the
province allocates it. A successor from the call's reserve list (applications' project_replaced)
is funded by the call's rule in the place of the project that left."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.common.statemachine import AuditEntry
from services.contracts.funding import money
from services.funding.domain.allocation import (
    CALL_ALLOCATION,
    Allocation,
    BudgetExhausted,
    allocate,
    allocate_successor,
)
from services.funding.domain.awards import ApprovedProject
from services.funding.domain.budget import funding_year
from services.funding.domain.money import add_by_source
from services.funding.domain.refusals import (
    AllocationBlocked,
    AllocationImpossible,
    AlreadyAllocated,
    NoSelection,
    RuleMissing,
)
from services.contracts.funding_rules import RankNotCovered
from services.funding.store import FundingStore
from services.funding.usecases import emit_all

#: Who allocates a call on its selection_finalized, in the audit and the ledger.
SYSTEM_ACTOR = "system:funding"


def selection_finalized(store: FundingStore, selection: Mapping, finalized_at: datetime, at: datetime) -> None:
    """Keep the call's approved projects (project id = application id) unless it is allocated
    already, and allocate it at once when its funding rule and budget lines for (year,
    category) exist; the year is the call's action year (`funding_year`). Otherwise the call stays
    pending, with the reason. Runs inside the handler's transaction."""
    call_id, category = selection["call_id"], selection["category"]
    approved = [
        {
            "project_id": a["application_id"],
            "institution_id": a["institution_id"],
            "prefecture": a["prefecture"],
            "title": a["title"],
            "rank": a["rank"],
            "request": a["budget_request_fen"],
        }
        for a in selection["approved"]
    ]

    def work():
        call = store.call(call_id)
        if call is not None and call["status"] == "allocated":
            return
        store.keep_selection(call_id, category, selection["funding_rule"], approved, finalized_at, selection["year"])
        year = funding_year(selection["year"], finalized_at)
        if not store.has_budget(year, category):
            store.keep_pending(
                call_id, f"no budget line for {year} {category} yet: add the budget (POST /v1/budgets), then allocate"
            )
            return
        try:
            allocate_call(store, call_id, year, SYSTEM_ACTOR, at)
        except AllocationBlocked as blocked:
            store.keep_pending(call_id, str(blocked))

    store.atomic(work)


def project_replaced(store: FundingStore, data: Mapping, at: datetime) -> None:
    """The province gave the place of a project that left to its call's reserve list: the
    successor joins the call's approved projects and, the call being allocated, is awarded by
    the call's rule at the rank of the place, from the call's budget year. A budget that does not
    cover it leaves it unfunded with the shortfall and emits budget_exhausted. A repeat changes
    nothing. Raises `NoSelection` for a call whose selection has not arrived."""
    successor = {
        "project_id": data["successor_project_id"],
        "institution_id": data["institution_id"],
        "prefecture": data["prefecture"],
        "title": data["title"],
        "rank": data["rank"],
        "request": data["budget_request_fen"],
        "succeeds": data["project_id"],
    }

    def work():
        call = store.call(data["call_id"])
        if call is None:
            raise NoSelection(data["call_id"])
        if any(p["project_id"] == successor["project_id"] for p in call["approved"]):
            return
        store.add_approved(call["_id"], successor)
        if call["status"] == "allocated":
            _fund_successor(store, call, successor, data["place_rank"], at)

    store.atomic(work)


def _fund_successor(store: FundingStore, call: dict, successor: dict, place_rank: int, at: datetime) -> None:
    rule = store.rule(call["funding_rule"])
    available = store.claim_budget_lines(call["year"], call["category"], rule.sources, at)
    try:
        outcome = allocate_successor(
            call["_id"],
            call["year"],
            call["category"],
            rule,
            ApprovedProject(successor["project_id"], successor["rank"], successor["request"]),
            place_rank,
            available,
            actor=SYSTEM_ACTOR,
            at=at,
        )
    except (RankNotCovered, ValueError) as impossible:
        store.note_unfunded(call["_id"], successor["project_id"], str(impossible), at)
        return
    if isinstance(outcome, BudgetExhausted):
        store.note_unfunded(call["_id"], successor["project_id"], _falls_short(call["year"], outcome), at)
        emit_all(store, [outcome.event])
        return
    store.reserve(call["year"], call["category"], outcome.needed, at)
    store.add_projects(outcome.changes, {successor["project_id"]: successor}, at)
    store.append_ledger(outcome.entries, call["_id"])
    emit_all(store, outcome.events)
    (award,) = outcome.awards
    store.add_award(
        call["_id"],
        {"project_id": award.project_id, "rank": award.rank, "award": money(award.by_source)},
        money(add_by_source((call["total"] or {}).get("by_source", {}), outcome.needed)),
    )


def allocate_call(
    store: FundingStore, call_id: str, requested_year: int | None, actor: str, at: datetime
) -> tuple[Allocation | BudgetExhausted, dict]:
    """Allocate the call's budget of `requested_year` (by default the call's action year) to its
    approved projects, all or nothing; returns the
    outcome and the call after it. A budget that does not cover the call allocates nothing,
    leaves the call pending with the shortfall and emits budget_exhausted. Raises
    `NoSelection`, `AlreadyAllocated`, `RuleMissing` or `AllocationImpossible`."""

    def work():
        call = store.call(call_id)
        if call is None:
            raise NoSelection(call_id)
        if call["status"] == "allocated":
            raise AlreadyAllocated(call_id, call["year"])
        rule = store.rule(call["funding_rule"])
        if rule is None:
            raise RuleMissing(call_id, call["funding_rule"])
        year = requested_year or funding_year(call.get("action_year"), at)
        available = store.claim_budget_lines(year, call["category"], rule.sources, at)
        try:
            projects = [ApprovedProject(p["project_id"], p["rank"], p["request"]) for p in call["approved"]]
            outcome = allocate(call_id, year, call["category"], rule, projects, available, actor=actor, at=at)
        except (RankNotCovered, ValueError) as impossible:
            raise AllocationImpossible(call_id, str(impossible)) from None
        funded = store.funded_among(p.project_id for p in projects)
        if funded is not None:
            raise AllocationImpossible(
                call_id, f"project {funded['_id']} is funded already, by call {funded['call_id']}"
            )
        if isinstance(outcome, BudgetExhausted):
            _record_shortfall(store, call, outcome, year, actor, at)
        else:
            _record_allocation(store, call, outcome, year, actor, at)
        return outcome, store.call(call_id)

    return store.atomic(work)


def _record_shortfall(
    store: FundingStore, call: dict, refused: BudgetExhausted, year: int, actor: str, at: datetime
) -> None:
    status, audit = CALL_ALLOCATION.apply(call["status"], "budget_exhausted", actor, _falls_short(year, refused), at)
    _move_call(
        store,
        call,
        year,
        status,
        audit,
        {
            "pending_reason": audit.reason,
            "last_shortfall": {
                "year": year,
                "needed": money(refused.needed),
                "available": money(refused.available),
                "shortfall": money(refused.shortfall),
                "at": at,
            },
        },
    )
    emit_all(store, [refused.event])


def _falls_short(year: int, refused: BudgetExhausted) -> str:
    missing = ", ".join(f"{source} by {fen} fen" for source, fen in refused.shortfall.items() if fen)
    return f"the {year} budget falls short: {missing}"


def _record_allocation(
    store: FundingStore, call: dict, allocation: Allocation, year: int, actor: str, at: datetime
) -> None:
    store.reserve(year, call["category"], allocation.needed, at)
    store.add_projects(allocation.changes, {p["project_id"]: p for p in call["approved"]}, at)
    store.append_ledger(allocation.entries, call["_id"])
    emit_all(store, allocation.events)
    status, audit = CALL_ALLOCATION.apply(call["status"], "allocate", actor, None, at)
    _move_call(
        store,
        call,
        year,
        status,
        audit,
        {
            "year": year,
            "pending_reason": None,
            "total": money(allocation.needed),
            "awards": [
                {"project_id": a.project_id, "rank": a.rank, "award": money(a.by_source)} for a in allocation.awards
            ],
        },
    )


def _move_call(store: FundingStore, call: dict, year: int, status: str, audit: AuditEntry, changes: dict) -> None:
    """The call moves to `status` with its audit entry and `changes`, unless another allocation moved it first."""
    if not store.move_call(call["_id"], call["status"], status, changes, audit):
        raise AlreadyAllocated(call["_id"], year)
