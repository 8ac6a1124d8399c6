from datetime import datetime, timedelta, timezone

import pytest

from services.common.bilingual import Bilingual
from services.common.statemachine import (
    PublicState,
    ReasonRequired,
    StateGuide,
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


DOOR_GUIDE = StateGuide(
    DOOR,
    Bilingual("door", "门"),
    {
        "closed": PublicState("shut", "shut", "已关"),
        "open": PublicState("open", "open", "开着"),
        "locked": PublicState("locked", "locked", "已锁"),
    },
    {
        "open": Bilingual("open it (POST /doors/{id}/open)", "开门"),
        "close": Bilingual("close it", "关门"),
        "lock": Bilingual("lock it", "锁门"),
    },
)


def test_the_next_step_is_the_first_move_on_the_shortest_way_to_a_state_that_allows_the_event():
    assert DOOR.next_step("open", "lock") == "close"
    assert DOOR.next_step("closed", "close") == "open"
    assert DOOR.next_step("locked", "open") is None


def test_a_refusal_names_the_public_state_and_the_step_that_would_allow_it_in_both_languages():
    with pytest.raises(TransitionNotAllowed) as caught:
        DOOR.apply("open", "lock", "user:1", "night", AT)
    assert caught.value.machine == "door"
    explained = DOOR_GUIDE.explain(caught.value)
    assert explained.en == "Cannot lock it: the door is open ('open'). Next step: close it."
    assert explained.zh == "门当前开着（open），不能锁门。下一步：关门。"
    assert DOOR_GUIDE.problem_type(caught.value) == "transition-not-allowed"


def test_a_refusal_in_a_state_that_leads_nowhere_says_no_step_is_left():
    refused = DOOR.refuse("locked", "open")
    assert (
        DOOR_GUIDE.explain(refused).en == "Cannot open it (POST /doors/{id}/open): the door is locked ('locked'). "
        "No step leads from there to it."
    )


def test_a_move_the_state_allows_but_a_rule_blocks_gives_the_rule_and_no_step():
    refused = TransitionNotAllowed("closed", "open", ("open",), "door", Bilingual("the fire alarm is on", "火警中"))
    assert (
        DOOR_GUIDE.explain(refused).en == "Cannot open it (POST /doors/{id}/open): the door is shut ('shut'); "
        "the fire alarm is on."
    )
    assert DOOR_GUIDE.problem_type(refused) == "transition-blocked"


def test_a_guide_must_cover_every_state_and_event():
    with pytest.raises(ValueError, match="lacks: state 'locked', event 'lock'"):
        StateGuide(
            DOOR,
            Bilingual("door", "门"),
            {s: PublicState(s, s, s) for s in ("closed", "open")},
            {e: Bilingual(e, e) for e in ("open", "close")},
        )
