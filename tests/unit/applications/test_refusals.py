"""How the service answers the domain's refusals (the RPC reply contract): each refusal's own
status and problem type, by the kernel's one refusal_problem."""

from datetime import datetime, timezone

import pytest

from services.applications.domain.messages import (
    Bilingual,
    DecisionReasonRequired,
    IncompleteSubmission,
    NotFound,
    NotRecommender,
    RecommendationCapReached,
    UnknownReference,
    WindowClosed,
)
from services.applications.domain.applications import APPLICATION_MACHINE
from services.applications.domain.calls import CALL_MACHINE
from services.applications.domain.guides import GUIDES
from services.applications.domain.projects import PROJECT_MACHINE
from services.applications.domain.reports import REPORT_MACHINE
from services.common.replies import refusal_problem
from services.common.statemachine import ReasonRequired, TransitionNotAllowed

AT = datetime(2026, 3, 1, tzinfo=timezone.utc)

MESSAGE = Bilingual("the thing", "那件事")


@pytest.mark.parametrize(
    "error, status, kind",
    [
        (NotFound(MESSAGE), 404, "not-found"),
        (NotRecommender(MESSAGE), 403, "not-recommender"),
        (WindowClosed(MESSAGE), 409, "window-closed"),
        (RecommendationCapReached(MESSAGE), 409, "recommendation-cap-reached"),
    ],
)
def test_each_refusal_has_its_status_and_type_and_both_languages(error, status, kind):
    answer = refusal_problem(error, GUIDES)
    assert (answer["status"], answer["problem"]["type"], answer["problem"]["detail"]) == (
        status,
        kind,
        "那件事 / the thing",
    )
    assert "errors" not in answer["problem"]


@pytest.mark.parametrize(
    "error, field",
    [
        (IncompleteSubmission({"industry_fields": [MESSAGE]}), "industry_fields"),
        (UnknownReference({"call_id": [MESSAGE]}), "call_id"),
        (DecisionReasonRequired(MESSAGE), "reason"),
        (ReasonRequired("decline"), "reason"),
    ],
)
def test_refusals_about_a_field_name_it(error, field):
    answer = refusal_problem(error, GUIDES)
    assert answer["status"] == 422
    assert list(answer["problem"]["errors"]) == [field]


def test_a_move_the_state_machine_refuses_names_the_public_state_and_the_next_step_in_both_languages():
    with pytest.raises(TransitionNotAllowed) as caught:
        APPLICATION_MACHINE.apply("draft", "recommend", "prefecture:1", None, AT)
    answer = refusal_problem(caught.value, GUIDES)
    assert answer["status"] == 409 and answer["problem"]["type"] == "transition-not-allowed"
    zh, en = answer["problem"]["detail"].split(" / ")
    assert en == (
        "Cannot recommend the application (POST /v1/applications/{id}/recommend): the application is "
        "a draft ('draft'). Next step: submit the application (POST /v1/applications/{id}/submit)."
    )
    assert "草稿（draft）" in zh and "下一步：提交申报书" in zh


def test_a_move_no_step_leads_to_says_so():
    with pytest.raises(TransitionNotAllowed) as caught:
        CALL_MACHINE.apply("cancelled", "publish_notice", "province:1", None, AT)
    assert "No step leads from there to it." in refusal_problem(caught.value, GUIDES)["problem"]["detail"]


def test_every_call_application_project_and_report_state_and_step_has_its_public_words():
    assert {guide.machine for guide in GUIDES.values()} == {
        CALL_MACHINE,
        APPLICATION_MACHINE,
        PROJECT_MACHINE,
        REPORT_MACHINE,
    }
