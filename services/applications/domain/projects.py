"""Projects (立项项目): what an approved application becomes, and its life after approval.

A project keeps the approved application's id (funding already calls its money by it), its
plan and yearly targets as approved, the award by source once funding allocates it, the
milestones its tranches wait for, and a state. See docs/projects.md for why the
applications service owns it and how issue 13 (reports, panels, adjustment) extends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.common.statemachine import StateMachine, Transition, creation_entry
from services.contracts.applications import PROJECT_STATES

ESTABLISHED, UNDER_CONSTRUCTION, FAILED, WITHDRAWN = PROJECT_STATES
#: The states of a project that has left the action (动态调整): its place is free again.
LEFT = (FAILED, WITHDRAWN)

PROJECT_MACHINE = StateMachine(
    "project",
    PROJECT_STATES,
    [
        # Funding allocated its award: construction starts against the yearly targets.
        Transition("fund", {ESTABLISHED}, UNDER_CONSTRUCTION),
        # It failed a milestone (funding's project_failed): it leaves the action (动态调整) and
        # its place returns to its category.
        Transition("fail", {ESTABLISHED, UNDER_CONSTRUCTION}, FAILED),
        # It was withdrawn (funding's project_withdrawn): it leaves in the same way.
        Transition("withdraw", {ESTABLISHED, UNDER_CONSTRUCTION}, WITHDRAWN),
    ],
)
#: What the approved application carries over into the project, as approved.
PLAN_FIELDS = (
    "title",
    "summary",
    "construction_plan",
    "yearly_targets",
    "performance_indicators",
    "budget_request_fen",
    "industry_fields",
)
#: The application's fields that say whose the project is (and so who may see it).
OWNER_FIELDS = (
    "call_id",
    "category",
    "institution_id",
    "institution_name",
    "prefecture",
    "recommender",
    "recommender_key",
)
#: Tranche states as funding reports them: scheduled, then released or withheld.
SCHEDULED, RELEASED, WITHHELD = "scheduled", "released", "withheld"


def project_record(
    application: Mapping[str, Any],
    call: Mapping[str, Any],
    rank: int,
    actor: str,
    at: datetime,
    succeeds: str | None = None,
) -> dict[str, Any]:
    """A new project from its approved application and call; its history starts with its
    creation (who, when, why). `succeeds`: the project that left, whose place it takes from
    the call's reserve list."""
    why = f"approved in call {call['_id']} at rank {rank}"
    if succeeds:
        why += f", from the reserve list in the place of project {succeeds}"
    created = creation_entry(ESTABLISHED, actor, at, why)
    return {
        "_id": application["_id"],
        **{key: application[key] for key in OWNER_FIELDS},
        "plan": {key: application.get(key) for key in PLAN_FIELDS},
        "year": call["year"],
        "rank": rank,
        "state": ESTABLISHED,
        "award": None,
        "milestones": [],
        "succeeds": succeeds,
        "created_at": created.at,
        "created_by": actor,
        "history": [created.as_dict()],
    }


def established_event(project: Mapping[str, Any]) -> dict[str, Any]:
    """The data of `project_established` for a new project record (documented in docs/asyncapi.yaml)."""
    plan = project["plan"]
    return {
        "project_id": project["_id"],
        "call_id": project["call_id"],
        "category": project["category"],
        "year": project["year"],
        "institution_id": project["institution_id"],
        "prefecture": project["prefecture"],
        "title": plan["title"],
        "rank": project["rank"],
        "budget_request_fen": plan["budget_request_fen"] or 0,
        "yearly_targets": [{"year": t["year"], "target": t["target"]} for t in plan["yearly_targets"] or ()],
    }


def place_of(project_id: str) -> str:
    """The subject of `project_replaced`: the left project's place, a subject of its own, so that
    its one event is sequence 1 and a consumer bound after the project's earlier events (funding
    reads applications' events only since this event exists) does not wait for them."""
    return f"place-of-{project_id}"


def replaced_event(
    left: Mapping[str, Any], successor: Mapping[str, Any], reserve_position: int, by: str
) -> dict[str, Any]:
    """The data of `project_replaced` (subject: `place_of` the project that left; documented in
    docs/asyncapi.yaml): its place went to `successor`, from its call's reserve list."""
    plan = successor["plan"]
    return {
        "project_id": left["_id"],
        "call_id": left["call_id"],
        "category": left["category"],
        "year": left["year"],
        "left_as": left["state"],
        "place_rank": left["rank"],
        "successor_project_id": successor["_id"],
        "institution_id": successor["institution_id"],
        "prefecture": successor["prefecture"],
        "title": plan["title"],
        "rank": successor["rank"],
        "reserve_position": reserve_position,
        "budget_request_fen": plan["budget_request_fen"] or 0,
        "by": by,
    }


def milestones_of(tranches: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The milestones a project's money waits for, one per tranche, all scheduled."""
    return [
        {
            "tranche": t["index"],
            "trigger": t["trigger"],
            "percent": t["percent"],
            "amount": t["amount"],
            "state": SCHEDULED,
            "reason": None,
        }
        for t in tranches
    ]


def with_tranche(
    milestones: list[Mapping[str, Any]], index: int, state: str, reason: str | None
) -> list[dict[str, Any]]:
    """The milestones after funding released or withheld tranche `index` (others unchanged)."""
    return [{**m, "state": state, "reason": reason} if m["tranche"] == index else dict(m) for m in milestones]
