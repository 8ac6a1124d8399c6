from datetime import datetime, timezone

import pytest

from services.applications.domain.applications import (
    APPLICATION_MACHINE,
    COUNTED_STATES,
    application_limit,
    check_can_open_draft,
    check_editable,
    check_submittable,
    missing_fields,
    unused_fields,
)
from services.contracts.catalogue import catalogue
from services.applications.domain.messages import ApplicationLimitReached, IncompleteSubmission, NotEditable
from services.common.statemachine import ReasonRequired, TransitionNotAllowed

AT = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)


def move(state, event, reason=None):
    return APPLICATION_MACHINE.apply(state, event, "institution:u1", reason, AT)


def test_the_path_to_review_leaves_a_history():
    state, history = "draft", []
    for event in ("submit", "recommend", "confirm_eligible", "start_review"):
        state, entry = move(state, event)
        history.append((entry.from_state, entry.to_state))
    assert state == "in_review"
    assert history == [
        ("draft", "submitted"),
        ("submitted", "recommended"),
        ("recommended", "eligible"),
        ("eligible", "in_review"),
    ]


def test_decline_needs_a_reason_and_records_it():
    with pytest.raises(ReasonRequired):
        move("submitted", "decline")
    state, entry = move("submitted", "decline", "超出推荐名额")
    assert state == "declined"
    assert entry.reason == "超出推荐名额"


@pytest.mark.parametrize("state", ["draft", "submitted", "recommended"])
def test_withdraw_before_review(state):
    assert move(state, "withdraw")[0] == "withdrawn"


ILLEGAL = [
    ("draft", "recommend"),
    ("draft", "decline"),
    ("draft", "confirm_eligible"),
    ("draft", "start_review"),
    ("submitted", "submit"),
    ("submitted", "confirm_eligible"),
    ("submitted", "rule_ineligible"),
    ("recommended", "recommend"),
    ("recommended", "decline"),
    ("recommended", "start_review"),
    ("declined", "recommend"),
    ("declined", "withdraw"),
    ("eligible", "withdraw"),
    ("eligible", "rule_ineligible"),
    ("ineligible", "start_review"),
    ("ineligible", "withdraw"),
    ("in_review", "withdraw"),
    ("withdrawn", "submit"),
]


@pytest.mark.parametrize("state, event", ILLEGAL)
def test_each_illegal_transition_is_refused_with_the_allowed_events(state, event):
    with pytest.raises(TransitionNotAllowed) as caught:
        move(state, event, "理由")
    assert caught.value.from_state == state
    assert caught.value.allowed_events == APPLICATION_MACHINE.allowed_events(state)


def test_withdrawn_applications_free_their_place():
    assert "withdrawn" not in COUNTED_STATES
    assert {"draft", "submitted", "declined", "in_review"} <= set(COUNTED_STATES)


def test_one_application_per_institution_for_school_level():
    category = catalogue()["hv-school"]
    assert application_limit(category, per_institution_limit=5) == 1
    check_can_open_draft(category, 5, held=0)
    with pytest.raises(ApplicationLimitReached) as caught:
        check_can_open_draft(category, 5, held=1)
    assert "the limit is 1" in caught.value.message.en
    assert "限报1项" in caught.value.message.zh


@pytest.mark.parametrize("code", ["master-teacher", "innovation-team", "master-studio", "workshop"])
def test_several_up_to_the_call_limit_for_person_and_team(code):
    category = catalogue()[code]
    check_can_open_draft(category, 3, held=2)
    with pytest.raises(ApplicationLimitReached):
        check_can_open_draft(category, 3, held=3)


def test_only_drafts_are_editable():
    check_editable("draft")
    with pytest.raises(NotEditable, match="only a draft can be edited; this application is submitted"):
        check_editable("submitted")


def test_fields_a_category_does_not_use_are_refused():
    errors = unused_fields(catalogue()["hv-school"], {"title": "x", "team_members": [], "enterprise_partner": {}})
    assert set(errors) == {"team_members", "enterprise_partner"}
    assert errors["team_members"][0].en == "hv-school applications have no team_members"
    assert "团队成员" in errors["team_members"][0].zh
    assert unused_fields(catalogue()["workshop"], {"team_members": [], "enterprise_partner": {}}) == {}
    assert set(unused_fields(catalogue()["workshop"], {"member_organisations": []})) == {"member_organisations"}


def test_missing_fields_count_blank_text_and_empty_lists():
    application = {
        "title": "楚怡工坊",
        "summary": "   ",
        "construction_plan": "方案",
        "yearly_targets": [],
        "budget_request_fen": 0,
        "industry_fields": ["46"],
        "team_members": [{"name": "李华"}],
    }
    assert missing_fields(catalogue()["workshop"], application) == ("summary", "yearly_targets", "enterprise_partner")


@pytest.mark.parametrize("fields", [None, []])
def test_no_submission_without_an_industry_field(fields):
    with pytest.raises(IncompleteSubmission) as caught:
        check_submittable({"title": "专业群", "industry_fields": fields})
    assert list(caught.value.errors) == ["industry_fields"]
    assert "所属专业大类" in caught.value.message.zh
    check_submittable({"title": "专业群", "industry_fields": ["51"]})


@pytest.mark.parametrize("start", ["eligible", "in_review"])
def test_the_selection_settles_every_eligible_application(start):
    assert move(start, "approve")[0] == "approved"
    assert move(start, "pass_over")[0] == "not_selected"
    for settled in ("approved", "not_selected"):
        with pytest.raises(TransitionNotAllowed):
            move(settled, "withdraw")
