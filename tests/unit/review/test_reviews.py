from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.statemachine import ReasonRequired, TransitionNotAllowed
from services.common.errors import FieldErrors
from services.review.domain.reviews import (
    ASSIGNMENT,
    ReviewClosed,
    Rubric,
    RubricInvalid,
    ScoreSheetInvalid,
    reviews_complete,
    visible_reviews,
    write_review,
)

RUBRIC_DICTS = [
    {"code": "plan", "name": "建设方案", "weight": 40, "max_score": 100},
    {"code": "base", "name": "办学基础", "weight": 35, "max_score": 20},
    {"code": "support", "name": "保障措施", "weight": 25, "max_score": 30},
]
RUBRIC = Rubric.from_dicts(RUBRIC_DICTS)
DEADLINE = datetime(2026, 5, 1, 16, 0, tzinfo=timezone.utc)
BEFORE = DEADLINE - timedelta(days=1)
GOOD = {"plan": 80, "base": 15, "support": 20}


def review(expert_id="e1", scores=GOOD, now=BEFORE, previous=None):
    return write_review(
        RUBRIC,
        application_id="app-1",
        expert_id=expert_id,
        scores=scores,
        comments="方案可行，基础扎实。",
        now=now,
        deadline=DEADLINE,
        previous=previous,
    )


def test_rubric_round_trips_with_chinese_names():
    assert RUBRIC.to_dicts() == RUBRIC_DICTS


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"weight": 50}, "rubric", "sum to 100, not 110"),
        ({"weight": 0}, "rubric[0].weight", "greater than 0"),
        ({"max_score": 12.5}, "rubric[0].max_score", "whole number"),
        ({"code": ""}, "rubric[0].code", "non-empty"),
        ({"colour": "red"}, "rubric[0].colour", "unknown field"),
        ({"code": "base"}, "rubric[1].code", "duplicate criterion code 'base'"),
    ],
)
def test_bad_rubric_names_the_field_and_rule(change, field, words):
    items = [dict(RUBRIC_DICTS[0], **change), *RUBRIC_DICTS[1:]]
    with pytest.raises(RubricInvalid) as caught:
        Rubric.from_dicts(items)
    assert any(words in message for message in caught.value.errors[field])


def test_empty_rubric_is_refused():
    with pytest.raises(RubricInvalid) as caught:
        Rubric.from_dicts([])
    assert "rubric" in caught.value.errors


def test_total_is_weighted_sum_in_hundredths():
    # 40·80/100 + 35·15/20 + 25·20/30 = 32 + 26.25 + 16.666… = 74.9166… → 74.92
    assert RUBRIC.total_hundredths(GOOD) == 7492


def test_full_and_zero_marks_give_the_ends_of_the_scale():
    assert RUBRIC.total_hundredths({"plan": 100, "base": 20, "support": 30}) == 10000
    assert RUBRIC.total_hundredths({"plan": 0, "base": 0, "support": 0}) == 0


def test_total_rounds_half_up_once_over_the_exact_sum():
    rubric = Rubric.from_dicts(
        [
            {"code": "a", "name": "甲", "weight": 1, "max_score": 8},
            {"code": "b", "name": "乙", "weight": 99, "max_score": 1},
        ]
    )
    # 1·1/8 = 0.125 points = 12.5 hundredths: half up gives 13 (half-even would give 12)
    assert rubric.total_hundredths({"a": 1, "b": 0}) == 13


@given(
    st.integers(0, 100),
    st.integers(0, 20),
    st.integers(0, 30),
)
def test_total_stays_on_the_scale_and_grows_with_any_score(plan, base, support):
    total = RUBRIC.total_hundredths({"plan": plan, "base": base, "support": support})
    assert 0 <= total <= 10000
    if plan < 100:
        assert RUBRIC.total_hundredths({"plan": plan + 1, "base": base, "support": support}) > total


def test_score_sheet_errors_name_every_bad_field():
    with pytest.raises(ScoreSheetInvalid) as caught:
        RUBRIC.validate_scores({"plan": 101, "base": 7.5, "innovation": 3})
    errors = caught.value.errors
    assert set(errors) == {"scores.plan", "scores.base", "scores.support", "scores.innovation"}
    assert "0 to 100" in errors["scores.plan"][0]
    assert "whole number" in errors["scores.base"][0]
    assert "missing" in errors["scores.support"][0]
    assert errors["scores.innovation"] == ["unknown criterion"]


@pytest.mark.parametrize("bad", [-1, True, "80", None])
def test_score_must_be_a_whole_number_in_range(bad):
    with pytest.raises(ScoreSheetInvalid) as caught:
        RUBRIC.validate_scores(dict(GOOD, plan=bad))
    assert set(caught.value.errors) == {"scores.plan"}


def test_write_review_stores_sheet_total_and_times():
    r = review()
    assert (r.scores, r.total_hundredths) == (GOOD, 7492)
    assert r.submitted_at == r.updated_at == BEFORE


def test_edit_before_deadline_replaces_scores_and_keeps_first_submission_time():
    first = review()
    later = BEFORE + timedelta(hours=3)
    edited = review(scores=dict(GOOD, plan=90), now=later, previous=first)
    assert edited.total_hundredths == 7892
    assert (edited.submitted_at, edited.updated_at) == (BEFORE, later)


@pytest.mark.parametrize("now", [DEADLINE, DEADLINE + timedelta(seconds=1)])
def test_no_write_or_edit_at_or_after_deadline(now):
    with pytest.raises(ReviewClosed):
        review(now=now)


def test_empty_comments_are_refused_with_the_sheet_errors():
    with pytest.raises(ScoreSheetInvalid) as caught:
        write_review(
            RUBRIC,
            application_id="app-1",
            expert_id="e1",
            scores={},
            comments="  ",
            now=BEFORE,
            deadline=DEADLINE,
        )
    assert "comments" in caught.value.errors
    assert "scores.plan" in caught.value.errors


def test_naive_time_is_refused():
    with pytest.raises(FieldErrors) as caught:
        review(now=datetime(2026, 4, 1, 8, 0))
    assert "now" in caught.value.errors


def test_expert_sees_only_own_review_until_deadline():
    reviews = [review("e1"), review("e2", scores=dict(GOOD, plan=10))]
    assert visible_reviews("e1", reviews, now=BEFORE, deadline=DEADLINE) == [reviews[0]]


def test_after_submitting_and_the_deadline_an_expert_sees_all_reviews():
    reviews = [review("e1"), review("e2")]
    assert visible_reviews("e1", reviews, now=DEADLINE, deadline=DEADLINE) == reviews


def test_expert_without_a_review_sees_nothing_even_after_deadline():
    reviews = [review("e1"), review("e2")]
    assert visible_reviews("e3", reviews, now=DEADLINE, deadline=DEADLINE) == []


def test_an_assignment_is_reviewed_and_edited_or_declined_with_a_reason_before_that():
    at = datetime(2026, 4, 1, tzinfo=timezone.utc)
    assert ASSIGNMENT.apply("assigned", "submit", "expert:1", None, at)[0] == "reviewed"
    assert ASSIGNMENT.apply("reviewed", "submit", "expert:1", None, at)[0] == "reviewed"
    with pytest.raises(ReasonRequired):
        ASSIGNMENT.apply("assigned", "decline", "expert:1", " ", at)
    assert ASSIGNMENT.apply("assigned", "decline", "expert:1", "出差", at)[1].reason == "出差"
    with pytest.raises(TransitionNotAllowed):
        ASSIGNMENT.apply("reviewed", "decline", "expert:1", "出差", at)
    for final in ("declined", "void"):
        assert ASSIGNMENT.is_terminal(final)


@pytest.mark.parametrize(
    "statuses, complete",
    [
        (["reviewed", "reviewed", "reviewed"], True),
        (["reviewed", "reviewed", "assigned"], False),
        (["reviewed", "reviewed"], False),  # short of the plan: a replacement is still to come
        ([], False),
    ],
)
def test_reviews_are_complete_when_the_plan_is_filled_and_all_are_in(statuses, complete):
    assert reviews_complete(statuses, 3) is complete
