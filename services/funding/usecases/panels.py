"""A panel's confirmed result (review's `panel_result_confirmed`) recorded as the project's
milestone result, exactly as the province's direct record (`POST /v1/projects/{id}/milestones`)
is: pass releases the milestone's tranche, rectify holds it, fail withholds every unpaid
tranche and claws back what the rule's claw-back policy names (`domain/milestones.py`).

A result the project's funding cannot take (the province recorded the milestone directly
meanwhile, or the project failed or completed already) is not recorded: the refusal is kept
in the project's history, where the province sees it (GET /v1/projects/{id}/funding)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from services.common.bilingual import Bilingual
from services.funding.domain.milestones import MilestoneRefused
from services.funding.domain.refusals import NotFundedYet
from services.funding.store import FundingStore
from services.funding.usecases.projects import record_milestone

log = logging.getLogger(__name__)


def panel_actor(data: Mapping) -> str:
    """Who records a panel's result: the panel, as the province confirmed it."""
    return f"panel:{data['panel_id']}"


def record_panel_result(store: FundingStore, data: Mapping, at: datetime) -> dict | None:
    """Record the panel's result as the milestone's; returns the milestone record, or None when
    the project's funding refused it (then noted in its history). Runs inside the handler's
    transaction."""
    try:
        recorded = record_milestone(
            store, data["project_id"], data["milestone"], data["result"], data["reason"], panel_actor(data), at
        )
    except (MilestoneRefused, NotFundedYet) as refused:
        why = getattr(refused, "why", None) or getattr(refused, "message", None) or str(refused)
        why = why if isinstance(why, Bilingual) else Bilingual(str(why), str(why))
        log.warning(
            "panel result not recorded",
            extra={"fields": {"project_id": data["project_id"], "panel_id": data["panel_id"], "why": why.en}},
        )
        store.note_refused(
            data["project_id"],
            {
                "event": f"{data['milestone']}_{data['result']}_refused",
                "actor": panel_actor(data),
                "at": at,
                "reason": f"专家组结论未记录：{why.zh} / panel result not recorded: {why.en}",
            },
        )
        return None
    if recorded is None:
        log.warning(
            "panel result for a project funding does not know",
            extra={"fields": {"project_id": data["project_id"], "panel_id": data["panel_id"]}},
        )
        return None
    return recorded[0]
