"""The finance events' data, built from domain values (the contract is in
`services/contracts/funding_events.py` and `docs/asyncapi.yaml`).

A `FinanceEvent` is what a service hands to the outbox: `emit(name, subject, data)`.
The kernel wraps it in the CloudEvents envelope and numbers it per subject
(`sequence`), in the order the events were produced. The subject is the project id;
for `budget_exhausted`, the call id. Amounts are integer fen with `currency: "CNY"`
and the split by source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.funding.domain.awards import ProjectAward, Tranche
from services.contracts.funding import money
from services.funding.domain.money import add_by_source

if TYPE_CHECKING:  # milestones builds these events: imported for the annotations only
    from services.funding.domain.milestones import ProjectFunding

EVENT_NAMES = (
    "funds_allocated",
    "tranche_scheduled",
    "tranche_released",
    "tranche_withheld",
    "funds_clawed_back",
    "project_failed",
    "project_withdrawn",
    "budget_exhausted",
)


@dataclass(frozen=True)
class FinanceEvent:
    name: str
    subject: str
    data: dict[str, Any]


def tranche_data(tranche: Tranche) -> dict[str, Any]:
    return {
        "index": tranche.index,
        "trigger": tranche.trigger,
        "percent": tranche.percent,
        "amount": money(tranche.by_source),
    }


def funds_allocated(call_id: str, year: int, category: str, award: ProjectAward, clawback: str) -> FinanceEvent:
    return FinanceEvent(
        "funds_allocated",
        award.project_id,
        {
            "project_id": award.project_id,
            "call_id": call_id,
            "year": year,
            "category": category,
            "rank": award.rank,
            "award": money(award.by_source),
            "tranches": [tranche_data(t) for t in award.tranches],
            "clawback_policy": clawback,
        },
    )


def tranche_event(name: str, call_id: str, project_id: str, tranche: Tranche) -> FinanceEvent:
    """`tranche_scheduled` or `tranche_released`."""
    return FinanceEvent(
        name, project_id, {"project_id": project_id, "call_id": call_id, "tranche": tranche_data(tranche)}
    )


def tranche_withheld(call_id: str, project_id: str, tranche: Tranche, milestone: str, reason: str) -> FinanceEvent:
    return FinanceEvent(
        "tranche_withheld",
        project_id,
        {
            "project_id": project_id,
            "call_id": call_id,
            "tranche": tranche_data(tranche),
            "milestone": milestone,
            "reason": reason,
        },
    )


def funds_clawed_back(
    call_id: str, project_id: str, tranches: Iterable[Tranche], milestone: str, policy: str, reason: str
) -> FinanceEvent:
    tranches = list(tranches)
    return FinanceEvent(
        "funds_clawed_back",
        project_id,
        {
            "project_id": project_id,
            "call_id": call_id,
            "milestone": milestone,
            "policy": policy,
            "reason": reason,
            "amount": money(add_by_source(*(t.by_source for t in tranches))),
            "tranches": [tranche_data(t) for t in tranches],
        },
    )


def project_failed(
    funding: ProjectFunding, milestone: str, reason: str, withheld: Iterable[Tranche], clawed_back: Iterable[Tranche]
) -> FinanceEvent:
    """After its tranche events: the project failed `milestone` and leaves."""
    return FinanceEvent(
        "project_failed",
        funding.project_id,
        {**_leaving(funding, reason, withheld, clawed_back), "milestone": milestone},
    )


def project_withdrawn(
    funding: ProjectFunding, reason: str, withheld: Iterable[Tranche], clawed_back: Iterable[Tranche]
) -> FinanceEvent:
    """After its tranche events: the project was withdrawn and leaves."""
    return FinanceEvent("project_withdrawn", funding.project_id, _leaving(funding, reason, withheld, clawed_back))


def _leaving(
    funding: ProjectFunding, reason: str, withheld: Iterable[Tranche], clawed_back: Iterable[Tranche]
) -> dict[str, Any]:
    """What a project leaving the action takes with it: what was withheld and reclaimed."""
    nothing = {source: 0 for source in funding.award.by_source}
    return {
        "project_id": funding.project_id,
        "call_id": funding.call_id,
        "category": funding.category,
        "reason": reason,
        "withheld": money(add_by_source(nothing, *(t.by_source for t in withheld))),
        "clawed_back": money(add_by_source(nothing, *(t.by_source for t in clawed_back))),
    }


def budget_exhausted(
    call_id: str,
    year: int,
    category: str,
    needed: Mapping[str, int],
    available: Mapping[str, int],
    shortfall: Mapping[str, int],
) -> FinanceEvent:
    return FinanceEvent(
        "budget_exhausted",
        call_id,
        {
            "call_id": call_id,
            "year": year,
            "category": category,
            "needed": money(needed),
            "available": money({s: available.get(s, 0) for s in needed}),
            "shortfall": money(shortfall),
        },
    )
