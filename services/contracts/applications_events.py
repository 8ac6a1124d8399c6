"""The events the applications service emits on `applications.events`: names (routing keys) and
data schemas.

Consumers (review, notify, and applications itself for the catalogue counts) load `data`
with these schemas; the store refuses to emit data that does not fit them.
"""

from marshmallow import fields, validate

from services.common.fields import StrictSchema
from services.common.vocabulary import INDUSTRY_FIELDS
from services.contracts.project_events import EVENTS as PROJECT_EVENTS


class CriterionData(StrictSchema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    weight = fields.Integer(required=True, strict=True)
    max_score = fields.Integer(required=True, strict=True)


class ReviewPlanData(StrictSchema):
    reviewers_per_application = fields.Integer(required=True, strict=True)
    rubric = fields.List(fields.Nested(CriterionData), required=True)
    conflict_same_prefecture = fields.Boolean(required=True)
    conflict_own_institution_applied = fields.Boolean(required=True)


class CallOpened(StrictSchema):
    call_id = fields.String(required=True)
    category = fields.String(required=True)
    title = fields.String(required=True)
    opens_at = fields.String(required=True, metadata={"description": "RFC 3339 UTC"})
    closes_at = fields.String(required=True)
    quota = fields.Integer(required=True, strict=True)
    prefecture_cap = fields.Integer(required=True, strict=True)
    per_institution_limit = fields.Integer(required=True, strict=True)
    budget_min_fen = fields.Integer(required=True, strict=True)
    budget_max_fen = fields.Integer(required=True, strict=True)
    review_plan = fields.Nested(ReviewPlanData, required=True)
    funding_rule = fields.String(required=True)
    year = fields.Integer(
        strict=True,
        load_default=None,
        metadata={
            "description": "the action year (2022-2025) the call belongs to; absent from calls opened before calls had one"
        },
    )


class CallClosed(StrictSchema):
    call_id = fields.String(required=True)
    category = fields.String(required=True)
    closed_at = fields.String(required=True)
    submitted_count = fields.Integer(required=True, strict=True)


class Recommender(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["prefecture_bureau", "hrss"]))
    authority = fields.String(required=True)


class _ApplicationRef(StrictSchema):
    application_id = fields.String(required=True)
    call_id = fields.String(required=True)
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    category = fields.String(required=True)


class ApplicationSubmitted(_ApplicationRef):
    title = fields.String(required=True)
    submitted_at = fields.String(required=True)
    recommender = fields.Nested(Recommender, required=True)


class ApplicationWithdrawn(_ApplicationRef):
    from_state = fields.String(required=True)
    reason = fields.String(allow_none=True, load_default=None)


class ApplicationDecision(_ApplicationRef):
    """application_recommended and application_declined."""

    by = fields.String(required=True, metadata={"description": "the recommending authority's actor"})
    reason = fields.String(allow_none=True, load_default=None)


class FindingData(StrictSchema):
    rule = fields.String(required=True)
    passed = fields.Boolean(required=True)
    reason_zh = fields.String(required=True)
    reason_en = fields.String(required=True)


class ApplicantSnapshot(StrictSchema):
    """What review needs of an eligible application: who applied, on what, and who is on the team."""

    institution_name = fields.String(required=True)
    institution_type = fields.String(required=True)
    county = fields.String(allow_none=True, load_default=None)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    industry_fields = fields.List(fields.String(validate=validate.OneOf(list(INDUSTRY_FIELDS))), required=True)
    keywords = fields.List(fields.String(), required=True)
    team_person_keys = fields.List(
        fields.String(), required=True, metadata={"description": "services.common.identity.person_key of each member"}
    )
    budget_request_fen = fields.Integer(required=True, strict=True)
    submitted_at = fields.String(required=True)


class EligibilityChecked(_ApplicationRef):
    eligible = fields.Boolean(required=True)
    overridden = fields.Boolean(required=True)
    decided_by = fields.String(required=True)
    reason = fields.String(allow_none=True, load_default=None)
    findings = fields.List(fields.Nested(FindingData), required=True)
    applicant = fields.Nested(ApplicantSnapshot, required=True)


class CallExtended(StrictSchema):
    """The window of an open call was extended; its applicants so far are told."""

    call_id = fields.String(required=True)
    category = fields.String(required=True)
    closes_at = fields.String(required=True, metadata={"description": "RFC 3339 UTC: the new closing time"})
    previous_closes_at = fields.String(required=True)
    institution_ids = fields.List(
        fields.String(), required=True, metadata={"description": "institutions with an application in the call"}
    )


class ClosedApplication(StrictSchema):
    application_id = fields.String(required=True)
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    from_state = fields.String(required=True)


class CallCancelled(StrictSchema):
    """The province cancelled a call before review: its applications are closed, its quota released."""

    call_id = fields.String(required=True)
    category = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    reason = fields.String(required=True)
    released_quota = fields.Integer(
        required=True, strict=True, metadata={"description": "places given back to the category's 2025 target"}
    )
    closed_applications = fields.List(fields.Nested(ClosedApplication), required=True)


class YearlyTargetData(StrictSchema):
    year = fields.Integer(required=True, strict=True)
    target = fields.String(required=True)


class ProjectEstablished(StrictSchema):
    """An approved application became a project (立项); its id is the application's."""

    project_id = fields.String(required=True)
    call_id = fields.String(required=True)
    category = fields.String(required=True)
    year = fields.Integer(required=True, strict=True, metadata={"description": "the call's action year"})
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    title = fields.String(required=True)
    rank = fields.Integer(required=True, strict=True)
    budget_request_fen = fields.Integer(required=True, strict=True)
    yearly_targets = fields.List(fields.Nested(YearlyTargetData), required=True)


class ReportWindowOpened(StrictSchema):
    """The province opened the annual progress reports (年度建设进展报告) of a year."""

    window_id = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    title = fields.String(required=True)
    opens_at = fields.String(required=True, metadata={"description": "RFC 3339 UTC"})
    due_at = fields.String(required=True, metadata={"description": "RFC 3339 UTC: the deadline"})


class ReportWindowExtended(StrictSchema):
    """The province moved a year's reporting deadline later (before it passed)."""

    window_id = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    due_at = fields.String(required=True, metadata={"description": "RFC 3339 UTC: the new deadline"})
    previous_due_at = fields.String(required=True)
    reason = fields.String(required=True)


class AnnualReportEvent(StrictSchema):
    """A project's annual report was filed, refiled, returned, endorsed or accepted."""

    report_id = fields.String(required=True)
    project_id = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    title = fields.String(required=True, metadata={"description": "the project's title"})
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    recommender = fields.Nested(Recommender, required=True)
    state = fields.String(required=True, validate=validate.OneOf(["submitted", "returned", "endorsed", "accepted"]))
    late = fields.Boolean(required=True, metadata={"description": "first filed after the deadline"})
    filings = fields.Integer(required=True, strict=True, metadata={"description": "how many times it was filed"})
    by = fields.String(required=True)
    reason = fields.String(allow_none=True, load_default=None)


class AnnualReportDue(StrictSchema):
    """A project's annual report falls due soon and is not filed yet (once per window and project)."""

    window_id = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    due_at = fields.String(required=True, metadata={"description": "RFC 3339 UTC: the deadline"})
    hours_left = fields.Integer(required=True, strict=True)
    project_id = fields.String(required=True)
    title = fields.String(required=True)
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    targets = fields.List(fields.String(), required=True, metadata={"description": "the plan's targets for the year"})


class MissingReport(StrictSchema):
    project_id = fields.String(required=True)
    title = fields.String(required=True)
    institution_id = fields.String(required=True)
    institution_name = fields.String(required=True)


class AnnualReportsMissing(StrictSchema):
    """A window's deadline passed: the projects of one prefecture that have not reported (once per window)."""

    window_id = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    due_at = fields.String(required=True, metadata={"description": "RFC 3339 UTC: the deadline that passed"})
    prefecture = fields.String(required=True)
    missing = fields.List(fields.Nested(MissingReport), required=True)


EVENTS = {
    "call_opened": CallOpened(),
    "call_closed": CallClosed(),
    "call_extended": CallExtended(),
    "call_cancelled": CallCancelled(),
    "project_established": ProjectEstablished(),
    **PROJECT_EVENTS,
    "report_window_opened": ReportWindowOpened(),
    "report_window_extended": ReportWindowExtended(),
    "annual_report_filed": AnnualReportEvent(),
    "annual_report_returned": AnnualReportEvent(),
    "annual_report_endorsed": AnnualReportEvent(),
    "annual_report_accepted": AnnualReportEvent(),
    "annual_report_due": AnnualReportDue(),
    "annual_reports_missing": AnnualReportsMissing(),
    "application_submitted": ApplicationSubmitted(),
    "application_withdrawn": ApplicationWithdrawn(),
    "application_recommended": ApplicationDecision(),
    "application_declined": ApplicationDecision(),
    "eligibility_checked": EligibilityChecked(),
}
