"""How the service answers the domain's refusals (the RPC reply contract)."""
from datetime import datetime, timezone

import pytest

from services.applications.domain.messages import (
    Bilingual, DecisionReasonRequired, IncompleteSubmission, NotFound, NotRecommender, RecommendationCapReached,
    UnknownReference, WindowClosed,
)
from services.applications.domain.applications import APPLICATION_MACHINE
from services.applications.domain.calls import CALL_MACHINE
from services.applications.domain.guides import GUIDES
from services.applications.domain.projects import PROJECT_MACHINE
from services.applications.domain.reports import REPORT_MACHINE
from services.applications.service import as_refused
from services.common.statemachine import ReasonRequired, TransitionNotAllowed

AT = datetime(2026, 3, 1, tzinfo=timezone.utc)

MESSAGE = Bilingual("the thing", "那件事")


@pytest.mark.parametrize("error, status, kind", [
    (NotFound(MESSAGE), 404, "not-found"),
    (NotRecommender(MESSAGE), 403, "not-recommender"),
    (WindowClosed(MESSAGE), 409, "window-closed"),
    (RecommendationCapReached(MESSAGE), 409, "recommendation-cap-reached"),
])
def test_each_refusal_has_its_status_and_type_and_both_languages(error, status, kind):
    refused = as_refused(error)
    assert (refused.status, refused.type, refused.detail) == (status, kind, "那件事 / the thing")
    assert refused.errors is None


@pytest.mark.parametrize("error, field", [
    (IncompleteSubmission({"industry_fields": [MESSAGE]}), "industry_fields"),
    (UnknownReference({"call_id": [MESSAGE]}), "call_id"),
    (DecisionReasonRequired(MESSAGE), "reason"),
    (ReasonRequired("decline"), "reason"),
])
def test_refusals_about_a_field_name_it(error, field):
    refused = as_refused(error)
    assert refused.status == 422
    assert list(refused.errors) == [field]


def test_a_move_the_state_machine_refuses_names_the_public_state_and_the_next_step_in_both_languages():
    with pytest.raises(TransitionNotAllowed) as caught:
        APPLICATION_MACHINE.apply("draft", "recommend", "prefecture:1", None, AT)
    refused = as_refused(caught.value)
    assert refused.status == 409 and refused.type == "transition-not-allowed"
    zh, en = refused.detail.split(" / ")
    assert en == ("Cannot recommend the application (POST /v1/applications/{id}/recommend): the application is "
                  "a draft ('draft'). Next step: submit the application (POST /v1/applications/{id}/submit).")
    assert "草稿（draft）" in zh and "下一步：提交申报书" in zh


def test_a_move_no_step_leads_to_says_so():
    with pytest.raises(TransitionNotAllowed) as caught:
        CALL_MACHINE.apply("cancelled", "publish_notice", "province:1", None, AT)
    assert "No step leads from there to it." in as_refused(caught.value).detail


def test_every_call_application_project_and_report_state_and_step_has_its_public_words():
    assert {guide.machine for guide in GUIDES.values()} == {CALL_MACHINE, APPLICATION_MACHINE, PROJECT_MACHINE,
                                                           REPORT_MACHINE}
