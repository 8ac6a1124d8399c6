"""Funded projects: the province records their mid-term review and acceptance, or withdraws them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from services.common.bilingual import Bilingual
from services.funding.domain.milestones import FundingChange, ProjectFunding, withdraw
from services.funding.domain.milestones import record_milestone as decide_milestone
from services.funding.domain.refusals import Conflict, NotFundedYet
from services.funding.store import FundingStore
from services.funding.usecases import emit_all


def record_milestone(
    store: FundingStore, project_id: str, milestone: str, result: str, reason: str | None, actor: str, at: datetime
) -> tuple[dict, dict] | None:
    """Record a mid-term or acceptance result with its tranche moves, ledger entries and finance
    events; returns (the milestone record, the project after it), or None for a project that
    is not approved. Raises `NotFundedYet`, and the domain's `MilestoneRefused`."""

    def record_of(change: FundingChange) -> dict:
        return {
            "id": f"ms_{uuid.uuid4().hex[:12]}",
            "milestone": milestone,
            "result": result,
            "reason": change.audit.reason,
            "recorded_by": actor,
            "recorded_at": at,
        }

    return _change(
        store,
        project_id,
        at,
        lambda funding: decide_milestone(funding, milestone, result, actor=actor, reason=reason, at=at),
        record_of,
    )


def withdraw_project(store: FundingStore, project_id: str, reason: str, actor: str, at: datetime) -> dict | None:
    """Withdraw a funded project (撤销) with its tranche moves, ledger entries and finance events;
    returns the project after it, or None for a project that is not approved. Raises
    `NotFundedYet`, and the domain's `MilestoneRefused`."""
    changed = _change(store, project_id, at, lambda funding: withdraw(funding, actor=actor, reason=reason, at=at))
    return None if changed is None else changed[1]


def _change(
    store: FundingStore,
    project_id: str,
    at: datetime,
    decide: Callable[[ProjectFunding], FundingChange],
    record_of: Callable[[FundingChange], dict] | None = None,
) -> tuple[dict | None, dict] | None:
    def work():
        funding = store.project_funding(project_id)
        if funding is None:
            call = store.call_approving(project_id)
            if call is not None:
                raise NotFundedYet(project_id, call["_id"])
            return None
        change = decide(funding)
        record = record_of(change) if record_of else None
        after = store.change_project_funding(change, funding.status, record, at)
        if after is None:
            raise Conflict(
                Bilingual(
                    f"project {project_id} changed while its funding was changed; send it again",
                    f"项目 {project_id} 的资金记录在修改期间发生变化，请重新提交",
                )
            )
        store.append_ledger(change.entries, funding.call_id)
        emit_all(store, change.events)
        return record, after

    return store.atomic(work)
