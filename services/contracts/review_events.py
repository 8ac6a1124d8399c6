"""The events the review service emits on `review.events`: names (routing keys) and data schemas.

Consumers (applications, funding, notify) load `data` with these schemas; the store refuses to
emit data that does not fit them."""

from marshmallow import fields, validate

from services.common.fields import StrictSchema


class AssignmentData(StrictSchema):
    assignment_id = fields.String(required=True)
    application_id = fields.String(required=True)
    expert_id = fields.String(required=True)
    review_deadline = fields.String(required=True, metadata={"description": "RFC 3339 UTC"})


class ExpertsAssigned(StrictSchema):
    """Subject: the call. One per assignment run (the first, or a replacement), or, for a run
    solved as a job, one per part it is published in: each part holds every new assignment of
    its experts (an expert hears of a run once)."""

    call_id = fields.String(required=True)
    assignments = fields.List(fields.Nested(AssignmentData), required=True)
    unfilled = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "[{application_id, missing, reason}]: the run's, in its last part (empty in others)"},
    )
    run_id = fields.String(metadata={"description": "the run (absent in events before parts were published)"})
    part = fields.Integer(
        strict=True, validate=validate.Range(min=1), metadata={"description": "this part's number, from 1"}
    )
    parts = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={"description": "the run's parts"})


class AssignmentDeclined(StrictSchema):
    call_id = fields.String(required=True)
    assignment_id = fields.String(required=True)
    application_id = fields.String(required=True)
    expert_id = fields.String(required=True)
    reason = fields.String(required=True)


class ReviewSubmitted(StrictSchema):
    call_id = fields.String(required=True)
    assignment_id = fields.String(required=True)
    application_id = fields.String(required=True)
    expert_id = fields.String(required=True)
    total_hundredths = fields.Integer(required=True, strict=True)


class ReviewsCompleted(StrictSchema):
    call_id = fields.String(required=True)
    application_id = fields.String(required=True)
    review_count = fields.Integer(required=True, strict=True)
    raw_mean_hundredths = fields.Integer(required=True, strict=True)


class RankedEntryData(StrictSchema):
    application_id = fields.String(required=True)
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    rank = fields.Integer(required=True, strict=True)
    calibrated_hundredths = fields.Integer(required=True, strict=True)


class RankingPublished(StrictSchema):
    call_id = fields.String(required=True)
    quota = fields.Integer(required=True, strict=True)
    selected = fields.List(fields.Nested(RankedEntryData), required=True)
    reserve = fields.List(fields.Nested(RankedEntryData), required=True)


class NoticePublished(StrictSchema):
    call_id = fields.String(required=True)
    opens_at = fields.String(required=True)
    closes_at = fields.String(required=True)
    selected = fields.List(fields.Nested(RankedEntryData), required=True)


class ObjectionFiled(StrictSchema):
    call_id = fields.String(required=True)
    objection_id = fields.String(required=True)
    application_id = fields.String(required=True)
    filed_by_role = fields.String(required=True)


class ObjectionResolved(StrictSchema):
    call_id = fields.String(required=True)
    objection_id = fields.String(required=True)
    application_id = fields.String(required=True)
    upheld = fields.Boolean(required=True)
    reason = fields.String(required=True)
    removed = fields.List(fields.String(), required=True)
    promoted = fields.List(fields.String(), required=True)


class ApprovedApplication(StrictSchema):
    application_id = fields.String(required=True)
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    rank = fields.Integer(required=True, strict=True)
    title = fields.String(required=True)
    budget_request_fen = fields.Integer(required=True, strict=True)


class ReserveApplication(StrictSchema):
    application_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    rank = fields.Integer(required=True, strict=True)
    reserve_position = fields.Integer(required=True, strict=True)


class SelectionFinalized(StrictSchema):
    """Subject: the call. The approved applications (立项), which become projects, and the
    reserve list of the final cut (after upheld objections), from which the province may fill
    the place of a project that leaves (docs/projects.md). A selection finalized before the
    reserve list was published with it has none."""

    call_id = fields.String(required=True)
    category = fields.String(required=True)
    funding_rule = fields.String(required=True)
    quota = fields.Integer(required=True, strict=True)
    year = fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        metadata={
            "description": "the call's action year, whose budget pays its projects; null when review never heard it"
        },
    )
    approved = fields.List(fields.Nested(ApprovedApplication), required=True)
    reserve = fields.List(
        fields.Nested(ReserveApplication), load_default=list, metadata={"description": "in rank order"}
    )


class PanelOpened(StrictSchema):
    """Subject: the panel. The province opened a mid-term or acceptance panel (docs/panels.md)."""

    panel_id = fields.String(required=True)
    milestone = fields.String(required=True, metadata={"description": "mid_term or acceptance"})
    title = fields.String(required=True)
    project_ids = fields.List(fields.String(), required=True)
    review_deadline = fields.String(required=True, metadata={"description": "RFC 3339 UTC"})


class PanelAssignmentData(StrictSchema):
    assignment_id = fields.String(required=True)
    project_id = fields.String(required=True)
    title = fields.String(required=True, metadata={"description": "the project's title"})
    expert_id = fields.String(required=True)
    review_deadline = fields.String(required=True, metadata={"description": "RFC 3339 UTC"})


class PanelExpertsAssigned(StrictSchema):
    """Subject: the panel. One per assignment run of a panel: its new assignments."""

    panel_id = fields.String(required=True)
    milestone = fields.String(required=True)
    title = fields.String(required=True, metadata={"description": "the panel's title"})
    assignments = fields.List(fields.Nested(PanelAssignmentData), required=True)
    unfilled = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "[{application_id (the project), missing, reason, code}]"},
    )


class ProposedResultData(StrictSchema):
    project_id = fields.String(required=True)
    calibrated_hundredths = fields.Integer(required=True, strict=True)
    result = fields.String(required=True, metadata={"description": "pass, rectify or fail"})


class PanelAssignmentDeclined(StrictSchema):
    """Subject: the panel. An expert declined a project of the panel, with a reason; the
    replacement follows as `panel_experts_assigned`."""

    panel_id = fields.String(required=True)
    assignment_id = fields.String(required=True)
    project_id = fields.String(required=True)
    expert_id = fields.String(required=True)
    reason = fields.String(required=True)


class PanelReviewSubmitted(StrictSchema):
    """Subject: the panel. An expert wrote (or edited) their review of a project of the panel."""

    panel_id = fields.String(required=True)
    assignment_id = fields.String(required=True)
    project_id = fields.String(required=True)
    expert_id = fields.String(required=True)
    total_hundredths = fields.Integer(required=True, strict=True)


class PanelResultsProposed(StrictSchema):
    """Subject: the panel. The panel's proposed result per project, for the province to confirm."""

    panel_id = fields.String(required=True)
    milestone = fields.String(required=True)
    results = fields.List(fields.Nested(ProposedResultData), required=True)


class PanelResultConfirmed(StrictSchema):
    """Subject: the project. The province confirmed (or overrode, with a reason) a panel's result
    for one project: funding records it as the milestone's result, as the province's direct
    record would."""

    panel_id = fields.String(required=True)
    project_id = fields.String(required=True)
    call_id = fields.String(required=True)
    category = fields.String(required=True)
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    title = fields.String(required=True)
    milestone = fields.String(required=True, metadata={"description": "mid_term or acceptance"})
    result = fields.String(required=True, metadata={"description": "pass, rectify or fail"})
    proposed_result = fields.String(required=True)
    overridden = fields.Boolean(required=True)
    calibrated_hundredths = fields.Integer(required=True, strict=True)
    reason = fields.String(required=True, metadata={"description": "the milestone's reason as funding records it"})
    rectify_by = fields.String(required=True, allow_none=True, metadata={"description": "RFC 3339 UTC, for rectify"})
    confirmed_by = fields.String(required=True)


class RectificationDue(StrictSchema):
    """Subject: the project. A project confirmed to rectify (限期整改) reached its deadline with no
    later result of the milestone confirmed: the province is to review it again (a follow-up
    panel of the milestone, or its direct record). Once per confirmed deadline."""

    project_id = fields.String(required=True)
    panel_id = fields.String(required=True, metadata={"description": "the panel whose result was rectify"})
    call_id = fields.String(required=True)
    category = fields.String(required=True)
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    title = fields.String(required=True)
    milestone = fields.String(required=True, metadata={"description": "mid_term or acceptance"})
    rectify_by = fields.String(required=True, metadata={"description": "RFC 3339 UTC: the deadline that passed"})


EVENTS = {
    "experts_assigned": ExpertsAssigned(),
    "assignment_declined": AssignmentDeclined(),
    "review_submitted": ReviewSubmitted(),
    "reviews_completed": ReviewsCompleted(),
    "ranking_published": RankingPublished(),
    "notice_published": NoticePublished(),
    "objection_filed": ObjectionFiled(),
    "objection_resolved": ObjectionResolved(),
    "selection_finalized": SelectionFinalized(),
    "panel_opened": PanelOpened(),
    "panel_experts_assigned": PanelExpertsAssigned(),
    "panel_assignment_declined": PanelAssignmentDeclined(),
    "panel_review_submitted": PanelReviewSubmitted(),
    "panel_results_proposed": PanelResultsProposed(),
    "panel_result_confirmed": PanelResultConfirmed(),
    "rectification_due": RectificationDue(),
}
