"""What the service learns from each event about who is who: its own copy of the facts
it needs to address notices (it never reads another service's database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from services.notify.domain.recipients import Data, recommender_of

OPEN, DECLINED, SUBMITTED = "open", "declined", "submitted"


@dataclass(frozen=True)
class Fact:
    """`record` `key` has (at least) these `fields` now, and `initial` if it is new."""

    record: str  # calls | applications | institutions | assignments | approvals | projects
    key: str
    fields: dict[str, Any]
    initial: dict[str, Any] = field(default_factory=dict)


#: What an event of a kind teaches, from its data.
Learner = Callable[[Data], list[Fact]]


def parse_time(text: str) -> datetime:
    """An RFC 3339 time of an event as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def facts_of(kind: str, data: Data) -> list[Fact]:
    learn = _LEARNERS.get(kind)
    return learn(data) if learn else []


def _application(entry: Data, **fields: Any) -> list[Fact]:
    known = {"institution_id": entry["institution_id"], "prefecture": entry["prefecture"], **fields}
    if "call_id" in entry:
        known["call_id"] = entry["call_id"]
    return [
        Fact("applications", entry["application_id"], known),
        Fact("institutions", entry["institution_id"], {"prefecture": entry["prefecture"]}),
    ]


def _applications(*listed: str) -> Learner:
    def learn(data: Data) -> list[Fact]:
        return [
            fact for name in listed for entry in data[name] for fact in _application(entry, call_id=data["call_id"])
        ]

    return learn


def _assignment(state: str) -> Learner:
    def learn(data: Data) -> list[Fact]:
        return [
            Fact(
                "assignments",
                data["assignment_id"],
                {
                    "expert_id": data["expert_id"],
                    "application_id": data["application_id"],
                    "call_id": data["call_id"],
                    "state": state,
                },
            )
        ]

    return learn


def _experts_assigned(data: Data) -> list[Fact]:
    # open only if new: a review submitted (or declined) is not reopened by an event that arrives after it
    return [
        Fact(
            "assignments",
            a["assignment_id"],
            {
                "expert_id": a["expert_id"],
                "application_id": a["application_id"],
                "call_id": data["call_id"],
                "review_deadline": parse_time(a["review_deadline"]),
            },
            initial={"state": OPEN},
        )
        for a in data["assignments"]
    ]


def _panel_experts_assigned(data: Data) -> list[Fact]:
    """A panel's assignments, as a call's: the expert reminders cover them (the panel's title
    stands for the call's name, the project for the application, its id being the application's)."""
    return [Fact("calls", data["panel_id"], {"title": data["title"]})] + [
        Fact(
            "assignments",
            a["assignment_id"],
            {
                "expert_id": a["expert_id"],
                "application_id": a["project_id"],
                "call_id": data["panel_id"],
                "review_deadline": parse_time(a["review_deadline"]),
            },
            initial={"state": OPEN},
        )
        for a in data["assignments"]
    ]


def _panel_assignment(state: str) -> Learner:
    def learn(data: Data) -> list[Fact]:
        return [
            Fact(
                "assignments",
                data["assignment_id"],
                {
                    "expert_id": data["expert_id"],
                    "application_id": data["project_id"],
                    "call_id": data["panel_id"],
                    "state": state,
                },
            )
        ]

    return learn


def _selection_finalized(data: Data) -> list[Fact]:
    facts: list[Fact] = []
    for entry in data["approved"]:
        facts += _application(entry, call_id=data["call_id"], title=entry["title"])
        facts.append(
            Fact(
                "approvals",
                f"{data['call_id']}:{entry['rank']}",
                {
                    "application_id": entry["application_id"],
                    "institution_id": entry["institution_id"],
                    "prefecture": entry["prefecture"],
                    "title": entry["title"],
                },
            )
        )
    return facts


def _project_replaced(data: Data) -> list[Fact]:
    """The successor is approved in the call at its own rank: funding's events about it find it
    by that rank, as those of the call's other projects."""
    entry = {
        "application_id": data["successor_project_id"],
        "institution_id": data["institution_id"],
        "prefecture": data["prefecture"],
    }
    return _application(entry, call_id=data["call_id"], title=data["title"]) + [
        Fact("approvals", f"{data['call_id']}:{data['rank']}", {**entry, "title": data["title"]})
    ]


_LEARNERS: dict[str, Learner] = {
    "call_opened": lambda d: [
        Fact(
            "calls",
            d["call_id"],
            {"title": d["title"], "category": d["category"], "closes_at": parse_time(d["closes_at"])},
        )
    ],
    "application_submitted": lambda d: _application(
        d, title=d["title"], recommender=recommender_of(d["recommender"], d["prefecture"])
    ),
    "application_withdrawn": _application,
    "application_recommended": _application,
    "application_declined": _application,
    "eligibility_checked": lambda d: _application(d, title=d["applicant"]["title"]),
    "experts_assigned": _experts_assigned,
    "assignment_declined": _assignment(DECLINED),
    "review_submitted": _assignment(SUBMITTED),
    "ranking_published": _applications("selected", "reserve"),
    "notice_published": _applications("selected"),
    "selection_finalized": _selection_finalized,
    "project_replaced": _project_replaced,
    "panel_experts_assigned": _panel_experts_assigned,
    "panel_assignment_declined": _panel_assignment(DECLINED),
    "panel_review_submitted": _panel_assignment(SUBMITTED),
    "funds_allocated": lambda d: [Fact("projects", d["project_id"], {"call_id": d["call_id"], "rank": d["rank"]})],
}
