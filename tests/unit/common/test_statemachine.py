from datetime import datetime, timedelta, timezone

import pytest

from services.common.statemachine import (
    ReasonRequired,
    StateMachine,
    Transition,
    TransitionNotAllowed,
    UnknownState,
)

AT = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)

DOOR = StateMachine(
    "door",
    ["closed", "open", "locked"],
    [
        Transition("open", {"closed"}, "open"),
        Transition("close", {"open"}, "closed"),
        Transition("lock", {"closed"}, "locked", requires_reason=True),
    ],
)


def test_apply_moves_and_records_who_when_from_to_why():
    state, entry = DOOR.apply("closed", "open", "user:1", "airing", AT)
    assert state == "open"
    assert entry.as_dict() == {
        "event": "open",
        "from_state": "closed",
        "to_state": "open",
        "actor": "user:1",
        "at": AT,
        "reason": "airing",
    }


def test_time_is_stored_in_utc():
    beijing = timezone(timedelta(hours=8))
    _, entry = DOOR.apply("closed", "open", "user:1", None, datetime(2026, 3, 1, 16, 0, tzinfo=beijing))
    assert entry.at == AT
    assert entry.at.utcoffset() == timedelta(0)


def test_illegal_transition_names_state_event_and_allowed_events():
    with pytest.raises(TransitionNotAllowed) as caught:
        DOOR.apply("open", "lock", "user:1", "night", AT)
    error = caught.value
    assert (error.from_state, error.event, error.allowed_events) == ("open", "lock", ("close",))
    assert "'lock' is not allowed in state 'open'" in str(error)
    assert "close" in str(error)


def test_undeclared_event_is_not_allowed():
    with pytest.raises(TransitionNotAllowed) as caught:
        DOOR.apply("closed", "paint", "user:1", None, AT)
    assert set(caught.value.allowed_events) == {"open", "lock"}


def test_terminal_state_allows_nothing():
    assert DOOR.is_terminal("locked")
    with pytest.raises(TransitionNotAllowed, match="allowed events: none"):
        DOOR.apply("locked", "open", "user:1", None, AT)


def test_unknown_current_state_is_reported_as_such():
    with pytest.raises(UnknownState, match="'ajar' is not a state of the door"):
        DOOR.apply("ajar", "close", "user:1", None, AT)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reason_required_where_declared(reason):
    with pytest.raises(ReasonRequired, match="'lock' needs a reason"):
        DOOR.apply("closed", "lock", "user:1", reason, AT)


def test_reason_is_trimmed_and_blank_becomes_none():
    _, entry = DOOR.apply("closed", "lock", "user:1", "  night  ", AT)
    assert entry.reason == "night"
    _, entry = DOOR.apply("closed", "open", "user:1", "  ", AT)
    assert entry.reason is None


def test_naive_time_and_missing_actor_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        DOOR.apply("closed", "open", "user:1", None, datetime(2026, 3, 1, 8, 0))
    with pytest.raises(ValueError, match="actor"):
        DOOR.apply("closed", "open", " ", None, AT)


def test_can_and_allowed_events():
    assert DOOR.can("closed", "lock")
    assert not DOOR.can("open", "open")
    assert DOOR.allowed_events("open") == ("close",)


@pytest.mark.parametrize(
    "transitions, problem",
    [
        ([Transition("go", {"a"}, "z")], "undeclared state 'z'"),
        ([Transition("go", {"y"}, "b")], "undeclared state 'y'"),
        ([Transition("go", {"a"}, "b"), Transition("go", {"b"}, "a")], "declared twice"),
        ([Transition("go", [], "b")], "no from-state"),
    ],
)
def test_broken_declarations_fail_at_construction(transitions, problem):
    with pytest.raises(ValueError, match=problem):
        StateMachine("broken", ["a", "b"], transitions)
