from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.applications.domain.calls import (
    CALL_MACHINE,
    call_year,
    catch_up,
    check_extension,
    check_accepting_applications,
    check_call_quota,
    check_decisions_open,
    due_events,
    quota_standing,
    released_on_cancel,
)
from services.contracts.applications import remaining_quota
from services.contracts.catalogue import catalogue
from services.applications.domain.messages import (
    CallNotOpen,
    DecisionsClosed,
    FieldsRefused,
    QuotaExceeded,
    WindowClosed,
)
from services.contracts.applications_api import CallIn, CallOut
from services.common.statemachine import ReasonRequired, TransitionNotAllowed

OPENS = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
CLOSES = datetime(2026, 3, 31, 16, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def call_payload(**overrides):
    payload = {
        "category": "hv-group",
        "title": "2026年楚怡高水平高职高专专业群遴选",
        "opens_at": "2026-03-01T08:00:00+08:00",
        "closes_at": "2026-03-31T16:00:00Z",
        "quota": 30,
        "prefecture_cap": 5,
        "budget_min_fen": 100_000_00,
        "budget_max_fen": 5_000_000_00,
        "review_plan": {
            "reviewers_per_application": 5,
            "rubric": [
                {"code": "foundation", "name": "建设基础", "weight": 30, "max_score": 100},
                {"code": "plan", "name": "建设方案", "weight": 50, "max_score": 100},
                {"code": "support", "name": "保障措施", "weight": 20, "max_score": 100},
            ],
        },
        "funding_rule": "tiered-v1",
    }
    return {**payload, **overrides}


def errors_of(payload):
    with pytest.raises(ValidationError) as caught:
        CallIn().load(payload)
    return caught.value.messages


def test_a_good_call_loads_in_utc_with_review_defaults():
    call = CallIn().load(call_payload())
    assert call["opens_at"] == OPENS
    assert call["per_institution_limit"] == 1
    assert call["review_plan"]["conflict_same_prefecture"] is True
    assert call["review_plan"]["conflict_own_institution_applied"] is True
    dumped = CallOut().dump({**call, "id": "c1", "state": "draft", "history": []})
    assert dumped["opens_at"] == "2026-03-01T00:00:00Z"
    assert dumped["title"] == "2026年楚怡高水平高职高专专业群遴选"


def test_rubric_weights_must_add_up_to_100_and_codes_be_unique():
    plan = call_payload()["review_plan"]
    plan["rubric"][0]["weight"] = 31
    plan["rubric"][2]["code"] = "plan"
    messages = errors_of(call_payload(review_plan=plan))["review_plan"]["rubric"]
    assert "criterion codes must be unique: plan repeated" in messages
    assert "criterion weights must add up to 100, not 101" in messages


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"closes_at": "2026-03-01T00:00:00Z"}, "closes_at", "Must be after opens_at."),
        ({"opens_at": "2026-03-01T08:00:00"}, "opens_at", "Must carry a time zone, e.g. 2026-03-01T08:00:00Z."),
        ({"budget_max_fen": 1}, "budget_max_fen", "Must not be below budget_min_fen."),
        ({"budget_min_fen": 1.5}, "budget_min_fen", "Not a valid integer."),
        ({"quota": "30"}, "quota", "Not a valid integer."),
        ({"quota": True}, "quota", "Not a valid integer."),
        (
            {"quota": 101},
            "quota",
            "the call's quota 101 is more than the 100 left of hv-group's quota of 100 (0 already selected, 0 held by unfinished calls)",
        ),
        ({"category": "think-tank"}, "category", None),
        ({"funding_rule": "$where"}, "funding_rule", "Only letters, digits, '_' and '-'."),
        ({"title": "标" * 201}, "title", "Longer than maximum length 200."),
        (
            {"per_institution_limit": 3},
            "per_institution_limit",
            "hv-group takes one application per institution: the limit must be 1",
        ),
    ],
)
def test_bad_call_terms_are_field_errors(overrides, field, message):
    messages = errors_of(call_payload(**overrides))
    assert field in messages
    if message:
        assert messages[field] == [message]


def test_one_per_prefecture_category_caps_each_prefecture_at_one():
    payload = call_payload(category="sv-prefecture", quota=14, prefecture_cap=2)
    assert "cap must be 1" in errors_of(payload)["prefecture_cap"][0]
    assert CallIn().load({**payload, "prefecture_cap": 1})["prefecture_cap"] == 1


def test_person_categories_may_allow_several_per_institution():
    call = CallIn().load(call_payload(category="master-teacher", per_institution_limit=3))
    assert call["per_institution_limit"] == 3


def test_call_quota_is_at_most_what_is_left():
    category = catalogue()["vu-school"]  # quota 3
    assert remaining_quota(category, 1) == 2
    check_call_quota(category, 2, selected_count=1)
    with pytest.raises(QuotaExceeded) as caught:
        check_call_quota(category, 3, selected_count=1)
    assert "more than the 2 left" in caught.value.message.en
    assert "剩余名额2" in caught.value.message.zh
    assert remaining_quota(category, 5) == 0


def test_quota_held_by_unfinished_calls_is_not_left():
    category = catalogue()["vu-school"]  # quota 3
    check_call_quota(category, 1, selected_count=1, held=1)
    with pytest.raises(QuotaExceeded) as caught:
        check_call_quota(category, 2, selected_count=1, held=1)
    assert "1 held by unfinished calls" in caught.value.message.en


@pytest.mark.parametrize(
    "state, now, events",
    [
        ("draft", OPENS - HOUR, ()),
        ("draft", OPENS, ("open",)),
        ("open", CLOSES - HOUR, ()),
        ("open", CLOSES, ("close",)),
        ("draft", CLOSES + HOUR, ("open", "close")),
        ("closed", CLOSES + HOUR, ()),
        ("in_review", CLOSES + HOUR, ()),
    ],
)
def test_timer_events_due(state, now, events):
    assert due_events(state, OPENS, CLOSES, now) == events


def test_timer_events_can_be_applied_in_order():
    state = "draft"
    for event in due_events(state, OPENS, CLOSES, CLOSES + HOUR):
        state, _ = CALL_MACHINE.apply(state, event, "system:timer", None, CLOSES + HOUR)
    assert state == "closed"


def test_naive_times_are_refused_by_the_timer():
    with pytest.raises(ValueError, match="timezone-aware"):
        due_events("draft", OPENS, CLOSES, datetime(2026, 3, 2))


@pytest.mark.parametrize("state, now", [("open", CLOSES), ("closed", OPENS + HOUR), ("draft", CLOSES + HOUR)])
def test_after_the_window_or_the_close_the_refusal_says_the_window_has_closed(state, now):
    with pytest.raises(WindowClosed) as caught:
        check_accepting_applications(state, OPENS, CLOSES, now)
    assert "window has closed" in caught.value.message.en and "2026-03-31T16:00:00Z" in caught.value.message.en
    assert "申报时间已截止" in caught.value.message.zh


@pytest.mark.parametrize("state, now", [("draft", OPENS + HOUR), ("open", OPENS - HOUR)])
def test_before_the_call_opens_the_refusal_says_when_it_opens(state, now):
    with pytest.raises(CallNotOpen) as caught:
        check_accepting_applications(state, OPENS, CLOSES, now)
    assert not isinstance(caught.value, WindowClosed)
    assert "not open yet" in caught.value.message.en and "2026-03-01T00:00:00Z" in caught.value.message.en
    assert "尚未开始" in caught.value.message.zh


def test_open_call_inside_window_accepts():
    check_accepting_applications("open", OPENS, CLOSES, OPENS + HOUR)


def test_call_lifecycle_and_illegal_moves():
    state = "draft"
    for event in ("open", "close", "start_review", "publish_notice", "finalize"):
        state, entry = CALL_MACHINE.apply(state, event, "province:admin", None, CLOSES)
        assert entry.to_state == state
    assert state == "finalized"
    for state, event in [
        ("draft", "close"),
        ("open", "start_review"),
        ("closed", "open"),
        ("in_review", "finalize"),
        ("finalized", "open"),
    ]:
        with pytest.raises(TransitionNotAllowed):
            CALL_MACHINE.apply(state, event, "province:admin", None, CLOSES)


@pytest.mark.parametrize(
    "state, target, events",
    [
        ("closed", "in_review", ("start_review",)),
        ("closed", "finalized", ("start_review", "publish_notice", "finalize")),
        ("in_review", "noticed", ("publish_notice",)),
        ("noticed", "in_review", ()),
        ("finalized", "finalized", ()),
    ],
)
def test_review_progress_walks_the_call_through_every_state_once(state, target, events):
    assert catch_up(state, target) == events
    for event in events:
        state, _ = CALL_MACHINE.apply(state, event, "review", None, CLOSES)
    if events:
        assert state == target


@pytest.mark.parametrize("state", ["draft", "open"])
def test_a_call_that_has_not_closed_cannot_be_reviewed(state):
    with pytest.raises(TransitionNotAllowed):
        catch_up(state, "finalized")


def test_decisions_are_made_while_the_call_is_open_or_closed_only():
    check_decisions_open("open")
    check_decisions_open("closed")
    with pytest.raises(DecisionsClosed) as caught:
        check_decisions_open("in_review")
    assert "in_review" in caught.value.message.en


def test_a_call_closes_early_or_is_extended_only_while_open():
    assert CALL_MACHINE.apply("open", "close_early", "province:u1", None, OPENS)[0] == "closed"
    assert CALL_MACHINE.apply("open", "extend", "province:u1", None, OPENS)[0] == "open"
    for state in ("draft", "closed", "in_review", "finalized", "cancelled"):
        with pytest.raises(TransitionNotAllowed):
            CALL_MACHINE.apply(state, "extend", "province:u1", None, OPENS)
        with pytest.raises(TransitionNotAllowed):
            CALL_MACHINE.apply(state, "close_early", "province:u1", None, OPENS)


def test_an_extension_moves_the_close_later_before_the_window_has_passed():
    check_extension(CLOSES, CLOSES + HOUR, CLOSES - HOUR)
    with pytest.raises(FieldsRefused) as earlier:
        check_extension(CLOSES, CLOSES, CLOSES - HOUR)
    assert list(earlier.value.errors) == ["closes_at"]
    with pytest.raises(WindowClosed):  # the closing timer is late, but the window has passed
        check_extension(CLOSES, CLOSES + HOUR, CLOSES)


def test_a_call_is_cancelled_with_a_reason_before_review_and_gives_back_what_it_holds():
    assert released_on_cancel("open", 5) == 5 and released_on_cancel("draft", 5) == 5
    state, entry = CALL_MACHINE.apply("open", "cancel", "province:u1", "误发批次", OPENS)
    assert state == "cancelled" and entry.reason == "误发批次"
    with pytest.raises(ReasonRequired):
        CALL_MACHINE.apply("open", "cancel", "province:u1", " ", OPENS)
    for state in ("closed", "in_review", "noticed", "finalized", "cancelled"):
        with pytest.raises(TransitionNotAllowed):
            CALL_MACHINE.apply(state, "cancel", "province:u1", "reason", OPENS)
    assert released_on_cancel("finalized", 5) == 0 and released_on_cancel("cancelled", 5) == 0
    assert CALL_MACHINE.is_terminal("cancelled") and catch_up("cancelled", "finalized") == ()


def test_a_call_belongs_to_an_action_year_and_every_years_selections_count_toward_one_target():
    assert call_year(datetime(2023, 5, 1, tzinfo=timezone.utc)) == 2023
    assert call_year(OPENS) == 2025  # after the action's last year: still toward its 2025 target
    assert call_year(datetime(2021, 12, 1, tzinfo=timezone.utc)) == 2022
    standing = quota_standing(catalogue()["vu-school"], {2023: 1, 2024: 1}, held=1)
    assert standing.as_dict() == {
        "target": 3,
        "selected": 2,
        "held": 1,
        "available": 0,
        "selected_by_year": [{"year": 2023, "selected": 1}, {"year": 2024, "selected": 1}],
    }
    with pytest.raises(QuotaExceeded):
        check_call_quota(catalogue()["vu-school"], 1, standing.selected, standing.held)
