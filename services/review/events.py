"""The events the review service emits: names (routing keys) and data schemas."""
from marshmallow import fields

from services.common.fields import StrictSchema


class AssignmentData(StrictSchema):
    assignment_id = fields.String(required=True)
    application_id = fields.String(required=True)
    expert_id = fields.String(required=True)
    review_deadline = fields.String(required=True, metadata={"description": "RFC 3339 UTC"})


class ExpertsAssigned(StrictSchema):
    """Subject: the call. One per assignment run (the first, or a replacement)."""
    call_id = fields.String(required=True)
    assignments = fields.List(fields.Nested(AssignmentData), required=True)
    unfilled = fields.List(fields.Dict(), required=True, metadata={"description": "[{application_id, missing, reason}]"})


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


class SelectionFinalized(StrictSchema):
    """Subject: the call. The approved applications (立项), which become projects."""
    call_id = fields.String(required=True)
    category = fields.String(required=True)
    funding_rule = fields.String(required=True)
    quota = fields.Integer(required=True, strict=True)
    approved = fields.List(fields.Nested(ApprovedApplication), required=True)


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
}
