"""The funding service's own helper for its replies: a project's money as
`ProjectFundingSchema` shows it. What the gateway validates and documents is the contract
(services/contracts/funding_api.py)."""

from __future__ import annotations

from services.contracts.funding import money
from services.funding.domain.finance_events import tranche_data
from services.funding.domain.milestones import ProjectFunding


def project_view(doc: dict, funding: ProjectFunding) -> dict:
    """A project's stored document with the money figures `ProjectFundingSchema` shows,
    from the domain's position of its tranches (`released` there is net of claw-backs)."""
    position = funding.position()

    def column(amount) -> dict:
        return money({source: amount(where) for source, where in position.items()})

    return {
        **doc,
        "award": money(funding.award.by_source),
        "tranches": [
            {**tranche_data(t), "state": state} for t, state in zip(funding.award.tranches, funding.tranche_states)
        ],
        "scheduled": column(lambda p: p["reserved"]),
        "released": column(lambda p: p["released"] + p["clawed_back"]),
        "withheld": column(lambda p: p["withheld"]),
        "clawed_back": column(lambda p: p["clawed_back"]),
        "kept": column(lambda p: p["released"]),
    }
