"""How the service answers the domain's refusals (the RPC reply contract)."""
import pytest

from services.applications.domain.messages import (
    Bilingual, DecisionReasonRequired, IncompleteSubmission, NotFound, NotRecommender, RecommendationCapReached,
    UnknownReference, WindowClosed,
)
from services.applications.service import as_refused
from services.common.statemachine import ReasonRequired, TransitionNotAllowed

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


def test_a_move_the_state_machine_refuses_is_a_409_in_both_languages():
    refused = as_refused(TransitionNotAllowed("submitted", "submit", ("withdraw",)))
    assert refused.status == 409 and refused.type == "transition-not-allowed"
    assert "不能执行“submit”" in refused.detail and "allowed events: withdraw" in refused.detail
