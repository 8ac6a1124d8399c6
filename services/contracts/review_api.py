"""The review service's requests and replies, as the gateway validates and documents them.

The field types (strict integers and booleans, trimmed text with limits, RFC 3339 UTC
times, bilingual messages) are the kernel's (`services.common.fields`).
ID numbers come in only to become person keys (`services.common.identity.person_key`):
they are never stored, echoed or quoted. Scores and totals are integer hundredths of a
point (8537 is 85.37).
"""

from __future__ import annotations

from marshmallow import fields, post_load

from services.contracts.catalogue import catalogue
from services.contracts.reference import PREFECTURES
from services.common.fields import (
    AuditEntryOut,
    BaseSchema,
    Flag,
    ListOf,
    Text,
    UtcDateTime,
    Whole,
    choice,
    opaque_id,
    resident_id,
)
from services.common.identity import person_key
from services.common.vocabulary import INDUSTRY_FIELDS
from services.contracts.review import DEFAULT_PASS_FROM, DEFAULT_RECTIFY_DAYS, DEFAULT_RECTIFY_FROM, PANEL_STATES

MAX_LOAD_CAP = 200
INDUSTRY_FIELD_LABELS = {code: zh for code, (zh, _) in INDUSTRY_FIELDS.items()}


def category_names() -> dict[str, str]:
    """Each category of the catalogue, by code, with its Chinese name."""
    return {c.code: c.name_zh for c in catalogue()}


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


# ---------------------------------------------------------------- experts


class ExpertIn(BaseSchema):
    """An expert of the pool (专家); also each row of an import."""

    name = Text(50, required=True)
    id_number = resident_id(required=True, load_only=True)  # kept only as a person key, to find the expert in a team
    institution_id = opaque_id(required=True, metadata={"description": "the expert's own institution (工作单位)"})
    institution_name = Text(200, metadata={"description": "for display"})
    prefecture = choice(PREFECTURES, required=True)
    expertise = ListOf(
        choice(INDUSTRY_FIELD_LABELS),
        min_items=1,
        max_items=len(INDUSTRY_FIELDS),
        required=True,
        data_key="fields",
        attribute="fields",
        metadata={"description": "fields of expertise: codes of the industry-field vocabulary (专业大类)"},
    )
    keywords = ListOf(Text(30), max_items=20, load_default=list, metadata={"description": "free keywords (研究方向)"})
    categories = ListOf(
        choice(category_names()),
        min_items=1,
        max_items=len(catalogue()),
        required=True,
        metadata={"description": "the categories the expert may review"},
    )
    conflict_institution_ids = ListOf(
        opaque_id(),
        max_items=50,
        load_default=list,
        metadata={"description": "declared conflicts (回避): institutions"},
    )
    conflict_id_numbers = ListOf(
        resident_id(),
        max_items=50,
        load_default=list,
        load_only=True,
        metadata={"description": "declared conflicts (回避): people, by resident ID number"},
    )
    load_cap = Whole(1, MAX_LOAD_CAP, required=True, metadata={"description": "the most applications per call"})
    available = Flag(load_default=True)

    @post_load
    def _to_person_keys(self, data, **kwargs):
        data["person_key"] = person_key(data.pop("id_number"))
        data["conflict_person_keys"] = _unique(person_key(n) for n in data.pop("conflict_id_numbers"))
        for name in ("fields", "keywords", "categories", "conflict_institution_ids"):
            data[name] = _unique(data[name])
        return data


class ExpertOut(BaseSchema):
    id = fields.String(attribute="_id")
    name = fields.String()
    institution_id = fields.String()
    institution_name = fields.String(allow_none=True)
    prefecture = fields.String()
    expertise = fields.List(fields.String(), data_key="fields", attribute="fields")
    keywords = fields.List(fields.String())
    categories = fields.List(fields.String())
    conflict_institution_ids = fields.List(fields.String())
    declared_conflict_people = fields.Function(
        lambda e: len(e["conflict_person_keys"]), metadata={"description": "how many people are declared (never who)"}
    )
    load_cap = fields.Integer()
    available = fields.Boolean()
    created_at = UtcDateTime()


class ExpertPageOut(BaseSchema):
    items = fields.List(fields.Nested(ExpertOut))
    next_cursor = fields.String(allow_none=True)


class ExpertFilterIn(BaseSchema):
    prefecture = choice(PREFECTURES)
    category = choice(category_names())
    field = choice(INDUSTRY_FIELD_LABELS, metadata={"description": "an industry-field code"})
    institution_id = opaque_id()


class ExpertImportOut(BaseSchema):
    imported = fields.Integer()
    expert_ids = fields.List(fields.String())


# ---------------------------------------------------------------- assignments


class AssignmentRunIn(BaseSchema):
    review_deadline = UtcDateTime(
        metadata={
            "description": "until when reviews may be written and edited; needed on the first run, "
            "a later run may move it (never into the past)"
        }
    )
    background = Flag(
        load_default=False,
        metadata={
            "description": "run as a job (202 and its Location), whatever the call's size; a call of more "
            "open applications than the service solves at once always runs as one"
        },
    )


class AssignmentUnfilledOut(BaseSchema):
    application_id = fields.String()
    missing = fields.Integer(metadata={"description": "experts the plan still lacks"})
    reason = fields.String()
    code = fields.String(metadata={"description": "no_qualified_expert, conflicts or capacity"})


class AssignmentOut(BaseSchema):
    id = fields.String(attribute="_id")
    call_id = fields.String()
    application_id = fields.String()
    application_title = fields.String()
    institution_name = fields.String()
    expert_id = fields.String()
    expert_name = fields.String()
    status = fields.String(metadata={"description": "assigned, reviewed, declined or void"})
    affinity = fields.Float(metadata={"description": "0..1: how well the expertise matches"})
    review_deadline = UtcDateTime()
    assigned_at = UtcDateTime()
    reason = fields.String(allow_none=True, metadata={"description": "why it was declined or voided"})
    history = fields.List(fields.Nested(AuditEntryOut))


class AssignmentPageOut(BaseSchema):
    items = fields.List(fields.Nested(AssignmentOut))
    next_cursor = fields.String(allow_none=True)


class AssignmentFilterIn(BaseSchema):
    call_id = opaque_id()
    run_id = opaque_id()
    application_id = opaque_id()
    expert_id = opaque_id()
    status = choice(["assigned", "reviewed", "declined", "void"])


class AssignmentLoadOut(BaseSchema):
    experts_used = fields.Integer()
    experts_at_cap = fields.Integer()
    mean_load = fields.Float()
    max_load = fields.Integer()
    max_utilization = fields.Float(metadata={"description": "the highest share of an expert's cap in use"})


class AssignmentFeasibilityOut(BaseSchema):
    demand = fields.Integer(metadata={"description": "open review slots"})
    capacity = fields.Integer(metadata={"description": "free expert capacity"})
    notes = fields.List(fields.String())


class AssignmentQualityOut(BaseSchema):
    total_affinity = fields.Float(metadata={"description": "of the new assignments"})
    mean_affinity = fields.Float(allow_none=True)
    slots = fields.Integer(metadata={"description": "reviews the plan asks for over all eligible applications"})
    filled = fields.Integer(metadata={"description": "of them, held by a standing assignment after this run"})
    coverage = fields.Float(metadata={"description": "filled / slots"})
    load = fields.Nested(AssignmentLoadOut)
    feasibility = fields.Nested(AssignmentFeasibilityOut)
    candidate_pairs = fields.Integer()


class AssignmentVoidedOut(BaseSchema):
    assignment_id = fields.String()
    reason = fields.String()


class AssignmentRunOut(BaseSchema):
    id = fields.String(attribute="_id")
    call_id = fields.String()
    kind = fields.String(
        metadata={
            "description": "run (by the province: the call's open slots) or replacement (after a decline: "
            "the open slots of the declined application alone; its quality is that application's)"
        }
    )
    review_deadline = UtcDateTime()
    assigned = fields.List(fields.Nested(AssignmentOut), metadata={"description": "the new assignments"})
    assigned_count = fields.Integer(metadata={"description": "how many new assignments the run made"})
    unfilled = fields.List(fields.Nested(AssignmentUnfilledOut))
    voided = fields.List(
        fields.Nested(AssignmentVoidedOut), metadata={"description": "standing assignments a rule now excludes"}
    )
    quality = fields.Nested(AssignmentQualityOut)
    seconds = fields.Float(metadata={"description": "how long the solve took"})
    created_at = UtcDateTime()
    created_by = fields.String()


class AssignmentRunSummaryOut(AssignmentRunOut):
    """A run with its new assignments counted, not listed (a job's: a national run makes 1.5 million)."""

    class Meta:
        exclude = ("assigned",)


class AssignmentJobProgressOut(BaseSchema):
    phase = fields.String(
        metadata={"description": "queued, reading, scoring, solving, staging, saving, publishing or done"}
    )
    done = fields.Integer(metadata={"description": "parts of the phase done, where it has parts"})
    total = fields.Integer(metadata={"description": "parts of the phase in all, where it has parts"})


class AssignmentJobProblemOut(BaseSchema):
    status = fields.Integer(metadata={"description": "the status the run's request would have been refused with"})
    title = fields.String()
    detail = fields.String(metadata={"description": "why, in Chinese and English"})
    type = fields.String()
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), metadata={"description": "the fields at fault"}
    )


class AssignmentJobOut(BaseSchema):
    """An assignment run in the background (a large call's)."""

    id = fields.String(attribute="_id")
    call_id = fields.String()
    state = fields.String(
        metadata={
            "description": "queued, solving, publishing (its run saved, its assignments published in parts), done or failed"
        }
    )
    progress = fields.Nested(AssignmentJobProgressOut)
    requested_by = fields.String()
    requested_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    run = fields.Nested(
        AssignmentRunSummaryOut,
        metadata={
            "description": "once done: the run as a run at once answers it, but its new assignments counted "
            "(assigned_count), not listed: GET /v1/assignments?run_id= pages through them"
        },
    )
    problem = fields.Nested(AssignmentJobProblemOut, metadata={"description": "once failed: why"})


class AssignmentDeclineIn(BaseSchema):
    reason = Text(1000, required=True, multiline=True)


class AssignmentDeclineOut(BaseSchema):
    assignment = fields.Nested(AssignmentOut)
    replacement = fields.Nested(AssignmentRunOut)


# ---------------------------------------------------------------- reviews


class ReviewIn(BaseSchema):
    scores = fields.Dict(
        keys=Text(32),
        values=Whole(0, 1000),
        required=True,
        metadata={"description": "criterion code -> whole points from 0 to the criterion's max_score"},
    )
    comments = Text(5000, required=True, multiline=True)


class RubricCriterionOut(BaseSchema):
    code = fields.String()
    name = fields.String()
    weight = fields.Integer()
    max_score = fields.Integer()


class ReviewSheetOut(BaseSchema):
    scores = fields.Dict(keys=fields.String(), values=fields.Integer())
    comments = fields.String()
    total_hundredths = fields.Integer(metadata={"description": "weighted total, 0..10000 (hundredths of a point)"})
    submitted_at = UtcDateTime()
    updated_at = UtcDateTime()


class OtherReviewOut(ReviewSheetOut):
    reviewer = fields.String(metadata={"description": "another reviewer of the application, anonymised (A, B, ...)"})


class ReviewOut(BaseSchema):
    assignment_id = fields.String()
    call_id = fields.String()
    application_id = fields.String()
    application_title = fields.String()
    status = fields.String()
    review_deadline = UtcDateTime()
    editable = fields.Boolean(metadata={"description": "whether the review may still be written or edited"})
    rubric = fields.List(fields.Nested(RubricCriterionOut))
    review = fields.Nested(ReviewSheetOut, allow_none=True)
    others_visible = fields.Boolean(
        metadata={
            "description": "the other reviews show once you have submitted yours and the review deadline has passed"
        }
    )
    others = fields.List(fields.Nested(OtherReviewOut))


# ---------------------------------------------------------------- ranking, notice, selection


class RankingEntryOut(BaseSchema):
    application_id = fields.String()
    title = fields.String()
    institution_id = fields.String()
    institution_name = fields.String()
    prefecture = fields.String()
    rank = fields.Integer()
    within_quota = fields.Boolean()
    held_back_by = fields.String(allow_none=True, metadata={"description": "quota or prefecture_cap (reserve only)"})
    reserve_position = fields.Integer(allow_none=True)
    calibrated_hundredths = fields.Integer()
    band_low_hundredths = fields.Integer(allow_none=True, metadata={"description": "95 % band"})
    band_high_hundredths = fields.Integer(allow_none=True)
    stderr_hundredths = fields.Integer(allow_none=True)
    raw_mean_hundredths = fields.Integer()
    review_count = fields.Integer()


class PrefectureResultOut(BaseSchema):
    prefecture = fields.String()
    ranked = fields.Integer()
    selected = fields.Integer()
    cap = fields.Integer(allow_none=True)
    rule = fields.String(allow_none=True, metadata={"description": "exactly_one, cap, or null"})
    satisfied = fields.Boolean()


class UnscoredOut(BaseSchema):
    application_id = fields.String()
    title = fields.String()
    reason = fields.String()


class ExpertOffsetOut(BaseSchema):
    expert_id = fields.String()
    review_count = fields.Integer()
    offset_hundredths = fields.Integer(metadata={"description": "positive: lenient, negative: severe"})


class CalibrationOut(BaseSchema):
    group_count = fields.Integer()
    residual_sd_hundredths = fields.Integer(allow_none=True)
    converged = fields.Boolean()
    expert_offsets = fields.List(fields.Nested(ExpertOffsetOut))


class RankingOut(BaseSchema):
    call_id = fields.String()
    status = fields.String(metadata={"description": "draft (computed now) or published (frozen)"})
    quota = fields.Integer()
    prefecture_cap = fields.Integer(allow_none=True)
    one_per_prefecture = fields.Boolean()
    tie_rule = fields.String()
    entries = fields.List(fields.Nested(RankingEntryOut), metadata={"description": "in rank order"})
    reserve = fields.List(fields.String(), metadata={"description": "application ids behind the line, in order"})
    shortfall = fields.Integer(metadata={"description": "places of the quota left empty"})
    prefectures = fields.List(fields.Nested(PrefectureResultOut))
    unscored = fields.List(fields.Nested(UnscoredOut))
    calibration = fields.Nested(CalibrationOut)
    outstanding_reviews = fields.Integer(
        metadata={"description": "reviews not yet in (publishing waits for them or the deadline)"}
    )
    review_deadline = UtcDateTime(allow_none=True)
    published_at = UtcDateTime(allow_none=True)
    left = fields.List(fields.String(), metadata={"description": "applications that left after publication"})


class NoticeIn(BaseSchema):
    window_working_days = Whole(1, 30, load_default=5, metadata={"description": "the window in working days (公示期)"})
    closes_at = UtcDateTime(metadata={"description": "a later close than the working days give; never earlier"})
    holidays = ListOf(
        fields.Date(), max_items=60, load_default=list, metadata={"description": "public holidays in the window"}
    )
    makeup_workdays = ListOf(
        fields.Date(),
        max_items=20,
        load_default=list,
        metadata={"description": "weekend days made working days (调休)"},
    )


class NoticeEntryOut(BaseSchema):
    rank = fields.Integer()
    application_id = fields.String()
    title = fields.String()
    institution_name = fields.String()
    prefecture = fields.String()


class NoticeOut(BaseSchema):
    call_id = fields.String()
    call_title = fields.String()
    category = fields.String()
    status = fields.String(metadata={"description": "published or finalized"})
    opens_at = UtcDateTime()
    closes_at = UtcDateTime()
    window_open = fields.Boolean()
    selected = fields.List(fields.Nested(NoticeEntryOut))
    removed = fields.List(
        fields.Nested(NoticeEntryOut), metadata={"description": "taken off the list after publication"}
    )
    open_objections = fields.Integer()


class ObjectionIn(BaseSchema):
    application_id = opaque_id(required=True)
    grounds = Text(2000, required=True, multiline=True)


class ObjectionOut(BaseSchema):
    id = fields.String(attribute="objection_id")
    call_id = fields.String()
    application_id = fields.String()
    status = fields.String(metadata={"description": "open, upheld or dismissed"})
    grounds = fields.String()
    filed_at = UtcDateTime()
    resolved_at = UtcDateTime(allow_none=True)
    resolution = fields.String(allow_none=True)
    removed = fields.List(fields.String(), metadata={"description": "on upholding: the application taken off"})
    promoted = fields.List(fields.String(), metadata={"description": "on upholding: reserve applications moved up"})


class ResolveIn(BaseSchema):
    decision = choice(["upheld", "dismissed"], required=True)
    reason = Text(2000, required=True, multiline=True)


class ApprovedApplicationOut(BaseSchema):
    application_id = fields.String()
    institution_id = fields.String()
    prefecture = fields.String()
    rank = fields.Integer()
    title = fields.String()
    budget_request_fen = fields.Integer()


class SelectionOut(BaseSchema):
    call_id = fields.String()
    status = fields.String()
    finalized_at = UtcDateTime()
    approved = fields.List(fields.Nested(ApprovedApplicationOut))


# ---------------------------------------------------------------- panels (mid-term review, acceptance)

MILESTONE_LABELS = {"mid_term": "中期检查", "acceptance": "验收"}
RESULT_LABELS = {"pass": "通过", "rectify": "限期整改", "fail": "不通过"}


class PanelCriterionIn(BaseSchema):
    """One weighted criterion of the panel's rubric (评分细则)."""

    code = Text(32, required=True)
    name = Text(100, required=True)
    weight = Whole(1, 100, required=True, metadata={"description": "the weights of a rubric add up to 100"})
    max_score = Whole(1, 1000, required=True)


class ThresholdsIn(BaseSchema):
    pass_from = Whole(
        0,
        10000,
        load_default=DEFAULT_PASS_FROM,
        metadata={"description": "calibrated score (hundredths) from which a project passes"},
    )
    rectify_from = Whole(
        0,
        10000,
        load_default=DEFAULT_RECTIFY_FROM,
        metadata={"description": "calibrated score (hundredths) from which a project rectifies; below it, it fails"},
    )


class PanelIn(BaseSchema):
    """A mid-term or acceptance panel: over `project_ids`, or every standing project of a
    `category` (and `year`) awaiting the milestone."""

    milestone = choice(MILESTONE_LABELS, required=True)
    title = Text(200, required=True)
    project_ids = ListOf(opaque_id(), min_items=1, max_items=1000)
    category = choice(category_names())
    year = Whole(2022, 2035, metadata={"description": "the projects' action year (their call's)"})
    rubric = ListOf(fields.Nested(PanelCriterionIn), min_items=1, max_items=20, required=True)
    reviewers_per_project = Whole(1, 15, load_default=3)
    conflict_same_prefecture = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "true/false: experts of the project's prefecture are kept off every/no project; "
            "null (default): as in selection, for the school-, group- and base-level categories"
        },
    )
    review_deadline = UtcDateTime(required=True)
    thresholds = fields.Nested(ThresholdsIn, load_default=lambda: ThresholdsIn().load({}))
    rectify_days = Whole(
        1,
        730,
        load_default=DEFAULT_RECTIFY_DAYS,
        metadata={"description": "a rectification's deadline, in days from the confirmation"},
    )


class ThresholdsOut(BaseSchema):
    pass_from = fields.Integer()
    rectify_from = fields.Integer()


class PanelResultOut(BaseSchema):
    project_id = fields.String()
    title = fields.String()
    institution_id = fields.String()
    prefecture = fields.String()
    status = fields.String(metadata={"description": "proposed or confirmed"})
    review_count = fields.Integer()
    raw_mean_hundredths = fields.Integer()
    calibrated_hundredths = fields.Integer()
    band_low_hundredths = fields.Integer(allow_none=True)
    band_high_hundredths = fields.Integer(allow_none=True)
    proposed_result = fields.String(metadata={"description": "pass, rectify or fail, from the thresholds"})
    result = fields.String(allow_none=True, metadata={"description": "the confirmed result (null until confirmed)"})
    overridden = fields.Boolean(allow_none=True)
    reason = fields.String(allow_none=True)
    rectify_by = UtcDateTime(allow_none=True)
    confirmed_by = fields.String(allow_none=True)
    confirmed_at = UtcDateTime(allow_none=True)


class PanelOut(BaseSchema):
    id = fields.String(attribute="_id")
    milestone = fields.String()
    title = fields.String()
    status = fields.String(metadata={"description": "open, reviewing, proposed or closed"})
    project_ids = fields.List(fields.String())
    rubric = fields.List(fields.Nested(RubricCriterionOut))
    reviewers_per_project = fields.Integer()
    conflict_same_prefecture = fields.Boolean(allow_none=True)
    review_deadline = UtcDateTime()
    thresholds = fields.Nested(ThresholdsOut)
    rule = fields.String(metadata={"description": "the thresholds in words (中文 / English)"})
    rectify_days = fields.Integer()
    results = fields.Method("_results", metadata={"description": "per project, once proposed"})
    calibration = fields.Nested(CalibrationOut, allow_none=True)
    created_at = UtcDateTime()
    created_by = fields.String()
    history = fields.List(fields.Nested(AuditEntryOut))

    def _results(self, panel):
        results = panel.get("results") or {}
        return [PanelResultOut().dump(results[p]) for p in panel["project_ids"] if p in results]


class PanelPageOut(BaseSchema):
    items = fields.List(fields.Nested(PanelOut))
    next_cursor = fields.String(allow_none=True)


class PanelFilterIn(BaseSchema):
    milestone = choice(MILESTONE_LABELS)
    status = choice(PANEL_STATES)


class PanelAssignmentOut(BaseSchema):
    id = fields.String(attribute="_id")
    panel_id = fields.String()
    milestone = fields.String()
    project_id = fields.String()
    project_title = fields.String()
    institution_name = fields.String(allow_none=True)
    expert_id = fields.String()
    expert_name = fields.String()
    status = fields.String(metadata={"description": "assigned, reviewed, declined or void"})
    affinity = fields.Float()
    review_deadline = UtcDateTime()
    assigned_at = UtcDateTime()
    review = fields.Nested(ReviewSheetOut, allow_none=True)
    history = fields.List(fields.Nested(AuditEntryOut))


class PanelAssignmentPageOut(BaseSchema):
    items = fields.List(fields.Nested(PanelAssignmentOut))
    next_cursor = fields.String(allow_none=True)


class PanelAssignmentFilterIn(BaseSchema):
    panel_id = opaque_id()
    project_id = opaque_id()
    expert_id = opaque_id()
    status = choice(["assigned", "reviewed", "declined", "void"])


class PanelRunOut(BaseSchema):
    panel_id = fields.String()
    assigned = fields.List(fields.Nested(PanelAssignmentOut), metadata={"description": "the new assignments"})
    unfilled = fields.List(
        fields.Nested(AssignmentUnfilledOut),
        metadata={"description": "projects left short (application_id names the project), with why"},
    )
    quality = fields.Nested(AssignmentQualityOut)
    seconds = fields.Float()


class PanelDeclineOut(BaseSchema):
    assignment = fields.Nested(PanelAssignmentOut)
    replacement = fields.Nested(PanelRunOut)


class PanelConfirmIn(BaseSchema):
    """Confirm the panel's proposed result, or override it (another `result`, with a `reason`)."""

    result = choice(RESULT_LABELS, metadata={"description": "omit to confirm the proposal as it is"})
    reason = Text(2000, multiline=True, metadata={"description": "required when `result` differs from the proposal"})
    rectify_by = UtcDateTime(metadata={"description": "for rectify: the deadline (default: rectify_days from now)"})
