"""A funded project's life: the approval tranche is paid on allocation, then the
province records the mid-term review and the acceptance, each `pass`, `rectify` or
`fail`.

- pass: the tranches triggered by that milestone are released;
- rectify: they stay scheduled (held) until a later pass of the same milestone;
- fail: every tranche not yet released is withheld, and the released tranches the
  rule's claw-back policy names are clawed back (`none`: none; `beyond_approval`: all
  but the approval tranche; `all`: all). Nothing is recorded after a fail.

Acceptance is recorded only after the mid-term review passed. Rectify and fail need a
reason. A project may also be withdrawn (撤销, with a reason) while it waits for a
milestone: its money goes as on a fail of that milestone. Each move goes through the state
machine below and leaves an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.common.bilingual import Bilingual
from services.common.statemachine import AuditEntry, StateMachine, Transition, TransitionNotAllowed
from services.contracts.funding import FUNDING_STATES, MILESTONES, RESULTS, TRANCHE_ACCOUNT
from services.funding.domain import finance_events as fe
from services.funding.domain.awards import ProjectAward, Tranche
from services.funding.domain.ledger import PROJECT_KINDS, Entry, reservation, tranche_movement

#: The milestone a funded project waits for, by its funding state.
AWAITED = {
    "awaiting_mid_term": "mid_term",
    "mid_term_rectifying": "mid_term",
    "awaiting_acceptance": "acceptance",
    "acceptance_rectifying": "acceptance",
}

FUNDING = StateMachine(
    "project funding",
    FUNDING_STATES,
    [
        Transition("allocate", {"approved"}, "awaiting_mid_term"),
        Transition("mid_term_pass", {"awaiting_mid_term", "mid_term_rectifying"}, "awaiting_acceptance"),
        Transition(
            "mid_term_rectify",
            {"awaiting_mid_term", "mid_term_rectifying"},
            "mid_term_rectifying",
            requires_reason=True,
        ),
        Transition("mid_term_fail", {"awaiting_mid_term", "mid_term_rectifying"}, "failed", requires_reason=True),
        Transition("acceptance_pass", {"awaiting_acceptance", "acceptance_rectifying"}, "completed"),
        Transition(
            "acceptance_rectify",
            {"awaiting_acceptance", "acceptance_rectifying"},
            "acceptance_rectifying",
            requires_reason=True,
        ),
        Transition("acceptance_fail", {"awaiting_acceptance", "acceptance_rectifying"}, "failed", requires_reason=True),
        Transition("withdraw", set(AWAITED), "withdrawn", requires_reason=True),
    ],
)


class MilestoneRefused(TransitionNotAllowed):
    """The milestone may not be recorded now (HTTP 409); `why` says why, in both languages."""

    def __init__(self, refused: TransitionNotAllowed, explanation: Bilingual):
        super().__init__(refused.from_state, refused.event, refused.allowed_events, refused.machine, explanation)
        self.args = (explanation.en,)


@dataclass(frozen=True)
class ProjectFunding:
    call_id: str
    year: int
    category: str
    clawback: str
    award: ProjectAward
    status: str
    tranche_states: tuple[str, ...]  # one of TRANCHE_ACCOUNT's keys per tranche, in plan order

    @property
    def project_id(self) -> str:
        return self.award.project_id

    def position(self) -> dict[str, dict[str, int]]:
        """{source: {reserved, released, withheld, clawed_back}}: where the award's money is."""
        position = {source: dict.fromkeys(PROJECT_KINDS, 0) for source in self.award.by_source}
        for tranche, state in zip(self.award.tranches, self.tranche_states):
            for source, amount in tranche.by_source.items():
                position[source][TRANCHE_ACCOUNT[state]] += amount
        return position


@dataclass(frozen=True)
class FundingChange:
    """The new state, its audit entry, and the ledger entries and finance events to store
    with it in one atomic write."""

    funding: ProjectFunding
    audit: AuditEntry
    entries: tuple[Entry, ...]
    events: tuple[fe.FinanceEvent, ...]


def start_funding(
    call_id: str, year: int, category: str, award: ProjectAward, clawback: str, *, actor: str, at: datetime
) -> FundingChange:
    """Reserve the award and release the approval tranche: the project is approved already."""
    approved = ProjectFunding(
        call_id, year, category, clawback, award, "approved", ("scheduled",) * len(award.tranches)
    )
    status, audit = FUNDING.apply(approved.status, "allocate", actor, None, at)
    scheduled = [fe.tranche_event("tranche_scheduled", call_id, award.project_id, t) for t in award.tranches]
    funding, entries, released = _release(replace(approved, status=status), "approval", at)
    return FundingChange(
        funding,
        audit,
        (*reservation(year, category, award.project_id, award.by_source, at), *entries),
        (fe.funds_allocated(call_id, year, category, award, clawback), *scheduled, *released),
    )


def record_milestone(
    funding: ProjectFunding, milestone: str, result: str, *, actor: str, reason: str | None, at: datetime
) -> FundingChange:
    """Raises ValueError for an unknown milestone or result, `MilestoneRefused` when the
    milestone may not be recorded in the project's state, and `ReasonRequired` for a
    rectify or fail without a reason."""
    if milestone not in MILESTONES:
        raise ValueError(f"milestone must be one of {list(MILESTONES)}, got {milestone!r}")
    if result not in RESULTS:
        raise ValueError(f"result must be one of {list(RESULTS)}, got {result!r}")
    try:
        status, audit = FUNDING.apply(funding.status, f"{milestone}_{result}", actor, reason, at)
    except TransitionNotAllowed as refused:
        raise MilestoneRefused(refused, _why_refused(funding, milestone)) from None
    moved = replace(funding, status=status)
    if result == "pass":
        moved, entries, events = _release(moved, milestone, at)
    elif result == "fail":
        reason = _required_reason(audit)
        moved, entries, events = _leave(moved, milestone, reason, at)
        events.append(fe.project_failed(moved, milestone, reason, *_left_money(funding, moved)))
    else:
        entries, events = [], []
    return FundingChange(moved, audit, tuple(entries), tuple(events))


def withdraw(funding: ProjectFunding, *, actor: str, reason: str | None, at: datetime) -> FundingChange:
    """The project is withdrawn (撤销) while it waits for a milestone: its money goes as on a
    fail of that milestone. Raises `MilestoneRefused` once the project has completed, failed
    or been withdrawn, and `ReasonRequired` without a reason."""
    try:
        status, audit = FUNDING.apply(funding.status, "withdraw", actor, reason, at)
    except TransitionNotAllowed as refused:
        raise MilestoneRefused(refused, _why_refused(funding, "withdrawal")) from None
    reason = _required_reason(audit)
    moved, entries, events = _leave(replace(funding, status=status), AWAITED[funding.status], reason, at)
    events.append(fe.project_withdrawn(moved, reason, *_left_money(funding, moved)))
    return FundingChange(moved, audit, tuple(entries), tuple(events))


def _required_reason(audit: AuditEntry) -> str:
    """The reason of a move declared `requires_reason` (fail, withdraw): `apply` raised
    `ReasonRequired` had there been none."""
    assert audit.reason is not None, f"'{audit.event}' requires a reason"
    return audit.reason


def _why_refused(funding: ProjectFunding, milestone: str) -> Bilingual:
    project = funding.project_id
    if funding.status == "withdrawn":
        return Bilingual(
            f"project {project} has been withdrawn: nothing more is recorded for it",
            f"项目 {project} 已撤销，不再记录考核结果",
        )
    if funding.status == "failed":
        return Bilingual(
            f"project {project} has failed a milestone: nothing more is recorded for it",
            f"项目 {project} 已有一项考核未通过，不再记录考核结果",
        )
    if funding.status == "completed":
        return Bilingual(
            f"project {project} has passed acceptance: its funding is complete",
            f"项目 {project} 已通过验收，资金已全部结清",
        )
    if milestone == "acceptance":
        rectifying = funding.status == "mid_term_rectifying"
        return Bilingual(
            f"acceptance of project {project} needs a passed mid-term review; the mid-term review is "
            + ("in rectification" if rectifying else "not recorded yet"),
            f"项目 {project} 须先通过中期检查才能验收；中期检查" + ("正在整改" if rectifying else "尚未记录"),
        )
    return Bilingual(f"the mid-term review of project {project} has passed already", f"项目 {project} 的中期检查已通过")


def _move(
    funding: ProjectFunding, tranches: list[Tranche], movement: str, state: str, at: datetime
) -> tuple[ProjectFunding, list[Entry]]:
    states = list(funding.tranche_states)
    entries = []
    for tranche in tranches:
        states[tranche.index - 1] = state
        entries += tranche_movement(movement, funding.project_id, tranche.index, tranche.by_source, at)
    return replace(funding, tranche_states=tuple(states)), entries


def _in_state(funding: ProjectFunding, state: str) -> list[Tranche]:
    return [t for t, s in zip(funding.award.tranches, funding.tranche_states) if s == state]


def _release(
    funding: ProjectFunding, trigger: str, at: datetime
) -> tuple[ProjectFunding, list[Entry], list[fe.FinanceEvent]]:
    due = [t for t in _in_state(funding, "scheduled") if t.trigger == trigger]
    funding, entries = _move(funding, due, "release", "released", at)
    return funding, entries, [fe.tranche_event("tranche_released", funding.call_id, funding.project_id, t) for t in due]


def _leave(
    funding: ProjectFunding, milestone: str, reason: str, at: datetime
) -> tuple[ProjectFunding, list[Entry], list[fe.FinanceEvent]]:
    """The project leaves before `milestone`: every unpaid tranche is withheld, and the released
    ones its claw-back policy names are clawed back."""
    unpaid = _in_state(funding, "scheduled")
    reclaimed = [t for t in _in_state(funding, "released") if _clawed_back(funding.clawback, t)]
    funding, withheld_entries = _move(funding, unpaid, "withholding", "withheld", at)
    funding, clawback_entries = _move(funding, reclaimed, "clawback", "clawed_back", at)
    events = [fe.tranche_withheld(funding.call_id, funding.project_id, t, milestone, reason) for t in unpaid]
    if reclaimed:
        events.append(
            fe.funds_clawed_back(funding.call_id, funding.project_id, reclaimed, milestone, funding.clawback, reason)
        )
    return funding, withheld_entries + clawback_entries, events


def _left_money(before: ProjectFunding, after: ProjectFunding) -> tuple[list[Tranche], list[Tranche]]:
    """The tranches withheld and clawed back by a leave."""
    moved = [
        (t, after_state)
        for t, was, after_state in zip(before.award.tranches, before.tranche_states, after.tranche_states)
        if was != after_state
    ]
    return [t for t, s in moved if s == "withheld"], [t for t, s in moved if s == "clawed_back"]


def _clawed_back(policy: str, tranche: Tranche) -> bool:
    return policy == "all" or (policy == "beyond_approval" and tranche.trigger != "approval")
