"""Allocation of a call's budget to its approved projects: all or nothing.

Either every approved project gets its full award (its funding starts: the award is
reserved and the approval tranche released), or nothing is allocated and the result
says, per source, by how much the budget falls short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.common.statemachine import StateMachine, Transition
from services.funding.domain import finance_events as fe
from services.funding.domain.awards import ApprovedProject, ProjectAward, award_project
from services.funding.domain.budget import check_year_and_category, shortfall
from services.funding.domain.ledger import Entry, check_id
from services.funding.domain.milestones import FundingChange, start_funding
from services.funding.domain.money import add_by_source
from services.contracts.funding_rules import FundingRule

#: A call's allocation, from its selection_finalized on: pending until allocated. An
#: attempt the budget does not cover leaves the call pending, with its audit entry.
CALL_ALLOCATION = StateMachine(
    "call allocation",
    ["pending", "allocated"],
    [
        Transition("allocate", {"pending"}, "allocated"),
        Transition("budget_exhausted", {"pending"}, "pending"),
    ],
)


@dataclass(frozen=True)
class Allocation:
    call_id: str
    needed: Mapping[str, int]  # per source: what the store must reserve from (year, category, source)
    changes: tuple[FundingChange, ...]  # one per project, in rank order

    @property
    def awards(self) -> tuple[ProjectAward, ...]:
        return tuple(change.funding.award for change in self.changes)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(entry for change in self.changes for entry in change.entries)

    @property
    def events(self) -> tuple[fe.FinanceEvent, ...]:
        return tuple(event for change in self.changes for event in change.events)


@dataclass(frozen=True)
class BudgetExhausted:
    call_id: str
    needed: Mapping[str, int]
    available: Mapping[str, int]
    shortfall: Mapping[str, int]  # per source of the rule, 0 where the budget is enough
    event: fe.FinanceEvent


def allocate(
    call_id: str,
    year: int,
    category: str,
    rule: FundingRule,
    projects: Iterable[ApprovedProject],
    available: Mapping[str, int],
    *,
    actor: str,
    at: datetime,
) -> Allocation | BudgetExhausted:
    """`available`: per source, the available amount of budget line (year, category, source);
    a missing source has none. Raises ValueError for no projects or a project listed
    twice, and `RankNotCovered` when a tiered rule does not reach a project's rank."""
    check_id(call_id, "call_id")
    check_year_and_category(year, category)
    projects = sorted(projects, key=lambda p: (p.rank, p.project_id))
    if not projects:
        raise ValueError(f"call {call_id} has no approved project to allocate to")
    ids = [p.project_id for p in projects]
    if len(set(ids)) != len(ids):
        raise ValueError(f"projects listed more than once: {sorted({i for i in ids if ids.count(i) > 1})}")
    return _fund(
        call_id, year, category, rule, [award_project(rule, p) for p in projects], available, actor=actor, at=at
    )


def allocate_successor(
    call_id: str,
    year: int,
    category: str,
    rule: FundingRule,
    successor: ApprovedProject,
    place_rank: int,
    available: Mapping[str, int],
    *,
    actor: str,
    at: datetime,
) -> Allocation | BudgetExhausted:
    """A successor from the call's reserve list, in the place of a project that left (动态调整):
    awarded by the call's rule as that place (the tier of `place_rank`, which the call's
    allocation covered), from the call's budget year, all or nothing."""
    check_id(call_id, "call_id")
    check_year_and_category(year, category)
    return _fund(
        call_id, year, category, rule, [award_project(rule, successor, place_rank)], available, actor=actor, at=at
    )


def _fund(
    call_id: str,
    year: int,
    category: str,
    rule: FundingRule,
    awards: list[ProjectAward],
    available: Mapping[str, int],
    *,
    actor: str,
    at: datetime,
) -> Allocation | BudgetExhausted:
    needed = add_by_source(dict.fromkeys(rule.sources, 0), *(a.by_source for a in awards))
    missing = shortfall(available, needed)
    if any(missing.values()):
        return BudgetExhausted(
            call_id,
            needed,
            {s: available.get(s, 0) for s in needed},
            missing,
            fe.budget_exhausted(call_id, year, category, needed, available, missing),
        )
    return Allocation(
        call_id,
        needed,
        tuple(start_funding(call_id, year, category, award, rule.clawback, actor=actor, at=at) for award in awards),
    )
