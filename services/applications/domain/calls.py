"""Calls (遴选批次): their states, how a category's quota stands, and the window timers. The checks
of a call's terms (the quota it may offer, its category's caps, the rubric) are the contract's,
which the gateway makes too (services.contracts.applications)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.contracts.catalogue import Category
from services.contracts.applications import CALL_STATES, quota_problem
from services.contracts.reference import ACTION_YEARS
from services.applications.domain.messages import (
    Bilingual,
    CallNotOpen,
    DecisionsClosed,
    FieldsRefused,
    QuotaExceeded,
    WindowClosed,
    rfc3339,
)
from services.common.statemachine import StateMachine, Transition

DRAFT, OPEN, CLOSED, IN_REVIEW, NOTICED, FINALIZED, CANCELLED = CALL_STATES
CALL_MACHINE = StateMachine(
    "call",
    CALL_STATES,
    [
        Transition("open", {DRAFT}, OPEN),
        Transition("close", {OPEN}, CLOSED),
        Transition("close_early", {OPEN}, CLOSED),
        Transition("extend", {OPEN}, OPEN),
        # Only before review starts: once experts are assigned, review owns the call's progress.
        Transition("cancel", {DRAFT, OPEN}, CANCELLED, requires_reason=True),
        Transition("start_review", {CLOSED}, IN_REVIEW),
        Transition("publish_notice", {IN_REVIEW}, NOTICED),
        Transition("finalize", {NOTICED}, FINALIZED),
    ],
)
#: A call in one of these states holds its quota (it may still select that many).
HOLDING_STATES = (DRAFT, OPEN, CLOSED, IN_REVIEW, NOTICED)


def _require_aware(*moments: datetime) -> None:
    if any(m.tzinfo is None or m.utcoffset() is None for m in moments):
        raise ValueError("call times must be timezone-aware (UTC)")


def call_year(opens_at: datetime) -> int:
    """The action year a call belongs to when the province does not say: the year it opens
    in, held within the action's years (a call opened after 2025 still counts toward 2025)."""
    _require_aware(opens_at)
    return min(max(opens_at.year, ACTION_YEARS.start), ACTION_YEARS[-1])


@dataclass(frozen=True)
class QuotaStanding:
    """A category's quota as it stands: the target to reach by 2025, what every year's
    selections took, what calls in progress hold, and what a new call may still offer."""

    target: int
    selected: int
    held: int
    selected_by_year: Mapping[int, int]

    @property
    def available(self) -> int:
        return max(self.target - self.selected - self.held, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "selected": self.selected,
            "held": self.held,
            "available": self.available,
            "selected_by_year": [
                {"year": year, "selected": count} for year, count in sorted(self.selected_by_year.items())
            ],
        }


def quota_standing(category: Category, selected_by_year: Mapping[int, int], held: int) -> QuotaStanding:
    return QuotaStanding(category.quota, sum(selected_by_year.values()), held, dict(selected_by_year))


def released_on_cancel(state: str, quota: int) -> int:
    """What a call gives back to its category's quota when it is cancelled from `state`:
    all it holds, and nothing when it holds nothing (already finalized or cancelled)."""
    return quota if state in HOLDING_STATES else 0


def check_extension(closes_at: datetime, new_closes_at: datetime, now: datetime) -> None:
    """A window is extended before it closes, and only later. Raises WindowClosed or FieldsRefused."""
    _require_aware(closes_at, new_closes_at, now)
    if now >= closes_at:
        raise WindowClosed(
            Bilingual(
                f"the window closed at {rfc3339(closes_at)}: a closed call cannot be extended",
                f"申报已于{rfc3339(closes_at)}截止，不能延期",
            )
        )
    if new_closes_at <= closes_at:
        raise FieldsRefused(
            {
                "closes_at": [
                    Bilingual(
                        f"must be later than the current closing time {rfc3339(closes_at)}",
                        f"应晚于现截止时间{rfc3339(closes_at)}",
                    )
                ]
            }
        )


def check_call_quota(category: Category, quota: int, selected_count: int, held: int = 0) -> None:
    """A call may offer at most what is left of its category's quota (`quota_problem`). Raises QuotaExceeded."""
    problem = quota_problem(category, quota, selected_count, held)
    if problem:
        raise QuotaExceeded(problem)


def due_events(state: str, opens_at: datetime, closes_at: datetime, now: datetime) -> tuple[str, ...]:
    """The timer events a call needs now, in order: ('open',), ('close',), both, or none.

    A draft whose whole window passed unseen (the timer was down) gets both, so its
    history shows it opened and closed.
    """
    _require_aware(opens_at, closes_at, now)
    events = []
    if state == DRAFT and now >= opens_at:
        events.append("open")
        state = OPEN
    if state == OPEN and now >= closes_at:
        events.append("close")
    return tuple(events)


def check_accepting_applications(state: str, opens_at: datetime, closes_at: datetime, now: datetime) -> None:
    """Drafts are created, edited and submitted only while the call is open and its window
    has not passed (even if the closing timer is late). Raises WindowClosed once the window
    has passed, CallNotOpen before it opens."""
    _require_aware(opens_at, closes_at, now)
    if state == OPEN and opens_at <= now < closes_at:
        return
    if now >= closes_at or state not in (DRAFT, OPEN):
        raise WindowClosed(
            Bilingual(
                f"the application window has closed: it closed at {rfc3339(closes_at)}",
                f"申报时间已截止（截止时间：{rfc3339(closes_at)}）",
            )
        )
    raise CallNotOpen(
        Bilingual(
            f"the call is not open yet: it opens at {rfc3339(opens_at)}",
            f"该遴选批次尚未开始申报（开始时间：{rfc3339(opens_at)}）",
        )
    )


#: While a call is in these states its applications may be recommended and checked.
DECIDING_STATES = (OPEN, CLOSED)


def check_decisions_open(state: str) -> None:
    """Recommendations and eligibility decisions end when review starts. Raises DecisionsClosed."""
    if state not in DECIDING_STATES:
        raise DecisionsClosed(
            Bilingual(
                f"the call is {state}: recommendations and eligibility decisions are over",
                f"该遴选批次已进入“{state}”阶段，推荐和形式审查已结束",
            )
        )


_PROGRESSION = (DRAFT, OPEN, CLOSED, IN_REVIEW, NOTICED, FINALIZED)
_EVENT_INTO = {
    OPEN: "open",
    CLOSED: "close",
    IN_REVIEW: "start_review",
    NOTICED: "publish_notice",
    FINALIZED: "finalize",
}


def catch_up(state: str, target: str) -> tuple[str, ...]:
    """The call machine's events that take a closed-or-later call on to `target`, in order;
    none when it is already there or beyond (a repeated or late report changes nothing).

    Review reports its progress by events (experts assigned, notice published, selection
    finalized); one that skips a step still walks the call through every state, so the
    history shows each. A call that has not closed cannot be reviewed: TransitionNotAllowed.
    A cancelled call stays cancelled.
    """
    if state == CANCELLED:
        return ()
    position, goal = _PROGRESSION.index(state), _PROGRESSION.index(target)
    if position >= goal:
        return ()
    if position < _PROGRESSION.index(CLOSED):
        raise CALL_MACHINE.refuse(state, _EVENT_INTO[target])
    return tuple(_EVENT_INTO[s] for s in _PROGRESSION[position + 1 : goal + 1])
