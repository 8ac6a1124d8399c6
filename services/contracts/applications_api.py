"""The applications service's requests and replies, as the gateway validates and documents them.

The field types are the kernel's (`services.common.fields`): unknown fields are refused,
types are strict (no "1" for 1, no 1 for true), every text has a length limit, times are
RFC 3339 with a zone and come out in UTC, money is integer fen. Every error message is a
`Bilingual`: its text is English, `.zh` is Chinese (`services.common.bilingual.localise_errors`
picks one). The gateway also feeds these schemas to apispec for the OpenAPI document, so
each has a stable name and descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from services.common import credit_code
from services.common.bilingual import Bilingual
from services.contracts.applications import (
    APPLICATION_STATES,
    CALL_STATES,
    DEFAULT_REMIND_HOURS,
    MATERIAL_KINDS,
    ORGANISATION_KINDS,
    PROJECT_STATES,
    REPORT_STATES,
    SUPERVISION_MEASURES,
    TARGET_STATUSES,
    call_terms_problems,
    material_link,
    quota_problem,
    rubric_problems,
)
from services.contracts.catalogue import catalogue
from services.contracts.reference import (
    ACTION_YEARS,
    HIGHER_VOCATIONAL,
    INSTITUTION_TYPES,
    OWNERSHIPS,
    PREFECTURES,
    Institution,
    ownership_of,
)
from services.common.fields import (
    AuditEntryOut,
    BaseSchema,
    Flag,
    ListOf,
    Masked,
    Object,
    SafeDict,
    Text,
    UtcDateTime,
    Whole,
    choice,
    fen,
    mobile,
    opaque_id,
    resident_id,
)
from services.common.vocabulary import INDUSTRY_FIELDS

FIRST_YEAR, LAST_YEAR = 2022, 2035
MAX_INDUSTRY_FIELDS = 3
MAX_KEYWORDS = 10
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 100, 20


# ---------------------------------------------------------------- fields


class CreditCode(Text):
    """A unified social credit code (GB 32100-2015), normalised to upper case."""

    def __init__(self, **kwargs):
        metadata = {
            "description": "统一社会信用代码 (GB 32100-2015): 18 characters of 0-9 and A-Y "
            "without I, O, S, V, Z; both check digits are verified; upper-cased on input"
        }
        super().__init__(credit_code.LENGTH, min_length=credit_code.LENGTH, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        code = credit_code.normalise(super()._deserialize(value, attr, data, **kwargs))
        problem = credit_code.problem(code)
        if problem:
            raise ValidationError(problem)
        return code


# ---------------------------------------------------------------- institutions


class InstitutionIn(BaseSchema):
    """An institution (申报单位) to register; also each row of an import."""

    name = Text(100, required=True, metadata={"description": "full Chinese name"})
    type = choice(INSTITUTION_TYPES, required=True)
    prefecture = choice(PREFECTURES, required=True, metadata={"description": "市州, one of Hunan's 14"})
    county = Text(50, required=True, metadata={"description": "县市区"})
    sponsor = Text(
        100, required=True, metadata={"description": "主管部门 (for a technician school, its HRSS department)"}
    )
    credit_code = CreditCode(required=True)
    ownership = choice(
        OWNERSHIPS,
        metadata={
            "description": "公办 public or 民办 private; when not given, read from the credit code (registered by the "
            "staffing authority, first character 1: public)"
        },
    )
    backbone = fields.Boolean(
        load_default=False,
        metadata={"description": "a backbone higher-vocational college (骨干高职高专院校) of its prefecture"},
    )

    @validates_schema
    def _backbone_is_a_college(self, data: dict, **_) -> None:
        if data.get("backbone") and data.get("type") != HIGHER_VOCATIONAL:
            raise ValidationError(
                {
                    "backbone": [
                        Bilingual(
                            "Only a higher-vocational college (高职专科) can be a backbone college.",
                            "只有高职专科院校可以是骨干高职高专院校。",
                        )
                    ]
                }
            )

    @post_load
    def _ownership(self, data: dict, **_) -> dict:
        if data.get("ownership") is None and data.get("credit_code"):
            data["ownership"] = ownership_of(data["credit_code"])
        return data


class RecommenderOut(BaseSchema):
    kind = fields.String(metadata={"description": "prefecture_bureau or hrss"})
    authority = fields.String(metadata={"description": "the prefecture, or the HRSS sponsor"})


class InstitutionOut(InstitutionIn):
    id = fields.String()
    type_zh = fields.Function(lambda obj: INSTITUTION_TYPES.get(_get(obj, "type")))
    recommender = fields.Method("_recommender", metadata={"description": "who recommends its applications"})
    created_at = UtcDateTime()

    def _recommender(self, obj) -> dict:
        institution = obj if isinstance(obj, Institution) else Institution.from_record(obj)
        return institution.recommender.as_dict()


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


class RowErrorOut(BaseSchema):
    row = fields.Integer(
        allow_none=True, metadata={"description": "spreadsheet row (the header is row 1); null for the whole file"}
    )
    field = fields.String(allow_none=True)
    column = fields.String(allow_none=True, metadata={"description": "the column header as written in the file"})
    message_zh = fields.String()
    message_en = fields.String()


class ImportReportOut(BaseSchema):
    ok = fields.Boolean()
    imported = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorOut))
    institution_ids = fields.List(fields.String(), metadata={"description": "the new institutions, in file order"})


# ---------------------------------------------------------------- catalogue


class SelectedInYearOut(BaseSchema):
    year = fields.Integer()
    selected = fields.Integer()


class ProgrammeOut(BaseSchema):
    """A category of the Chuyi action with its quota to 2025 and its progress."""

    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    quota = fields.Integer()
    quota_year = fields.Integer()
    institution_types = fields.List(fields.String())
    applicant = fields.String(
        metadata={"description": "institution, person, team, joint (school + enterprise) or group"}
    )
    level = fields.String(metadata={"description": "school, specialty, base, group, person or team"})
    one_per_institution = fields.Boolean()
    one_per_prefecture = fields.Boolean()
    required_fields = fields.List(
        fields.String(), metadata={"description": "application fields to fill in before submitting"}
    )
    notice_ref = fields.String(metadata={"description": "paragraph of 湘教发〔2022〕7号"})
    selected_count = fields.Integer(metadata={"description": "selected so far (all years; the same as selected)"})
    target = fields.Integer(metadata={"description": "the 2025 target (the quota)"})
    selected = fields.Integer(metadata={"description": "selected so far, every year's calls together"})
    held = fields.Integer(metadata={"description": "held by calls in progress (not finalized nor cancelled)"})
    available = fields.Integer(metadata={"description": "what a new call may still offer: target - selected - held"})
    selected_by_year = fields.List(fields.Nested(SelectedInYearOut))


class ProgrammeListOut(BaseSchema):
    items = fields.List(fields.Nested(ProgrammeOut))


# ---------------------------------------------------------------- calls


_CRITERION_CODE = validate.Regexp(
    r"^[a-z][a-z0-9_-]*$",
    error=Bilingual(
        "Lower-case letters, digits, '_' and '-', starting with a letter.",
        "应以小写字母开头，只含小写字母、数字、“_”和“-”。",
    ),
)


class CriterionIn(BaseSchema):
    """One weighted criterion of the scoring rubric (评分细则)."""

    code = Text(32, required=True, validate=[_CRITERION_CODE])
    name = Text(100, required=True)
    weight = Whole(1, 100, required=True, metadata={"description": "the weights of a rubric add up to 100"})
    max_score = Whole(1, 1000, required=True)


class ReviewPlanIn(BaseSchema):
    reviewers_per_application = Whole(1, 15, required=True)
    rubric = ListOf(Object(CriterionIn), min_items=1, max_items=20, required=True)
    conflict_same_prefecture = Flag(
        load_default=True, metadata={"description": "experts from the applicant's prefecture abstain (回避)"}
    )
    conflict_own_institution_applied = Flag(
        load_default=True, metadata={"description": "experts whose own institution applied in this call abstain"}
    )

    @validates_schema
    def _rubric_adds_up(self, data, **kwargs):
        problems = rubric_problems(data["rubric"])
        if problems:
            raise ValidationError({"rubric": problems})


class CallIn(BaseSchema):
    """A call (遴选批次) for one category."""

    category = choice(catalogue().codes, required=True)
    title = Text(200, required=True)
    opens_at = UtcDateTime(required=True)
    closes_at = UtcDateTime(required=True)
    quota = Whole(1, 10_000, required=True, metadata={"description": "at most what is left of the category's quota"})
    prefecture_cap = Whole(
        1,
        10_000,
        required=True,
        metadata={
            "description": "most applications each recommending authority (a prefecture bureau, "
            "or the HRSS sponsor of technician schools) may recommend"
        },
    )
    per_institution_limit = Whole(
        1, 100, load_default=1, metadata={"description": "applications per institution (person and team categories)"}
    )
    budget_min_fen = fen(required=True)
    budget_max_fen = fen(required=True)
    review_plan = Object(ReviewPlanIn, required=True)
    funding_rule = opaque_id(required=True, metadata={"description": "id of the funding rule the allocation applies"})
    year = Whole(
        ACTION_YEARS.start,
        ACTION_YEARS[-1],
        metadata={
            "description": "the action year (2022-2025) the call belongs to; by default the year it opens in, "
            "2025 for a call opening later. Every year's selections count toward the one 2025 target"
        },
    )
    required_materials = ListOf(
        choice({code: kind.zh for code, kind in MATERIAL_KINDS.items()}),
        max_items=len(MATERIAL_KINDS),
        load_default=list,
        metadata={"description": "kinds of material an application must carry to be submitted"},
    )

    @validates_schema
    def _terms_fit(self, data, **kwargs):
        category = catalogue()[data["category"]]
        terms = call_terms_problems(category, data["prefecture_cap"], data["per_institution_limit"])
        errors = {field: [message] for field, message in terms.items()}
        quota = quota_problem(category, data["quota"], 0)
        if quota:
            errors["quota"] = [quota]
        if data["closes_at"] <= data["opens_at"]:
            errors["closes_at"] = [Bilingual("Must be after opens_at.", "截止时间应晚于开始时间。")]
        if data["budget_max_fen"] < data["budget_min_fen"]:
            errors["budget_max_fen"] = [Bilingual("Must not be below budget_min_fen.", "经费上限不能低于下限。")]
        if errors:
            raise ValidationError(errors)


class CallOut(CallIn):
    id = fields.String()
    state = fields.String(metadata={"description": ", ".join(CALL_STATES)})
    history = fields.List(fields.Nested(AuditEntryOut))
    created_at = UtcDateTime()
    reserve_valid_until = UtcDateTime(
        allow_none=True,
        metadata={
            "description": "once finalized: until when a left project's place may go to its reserve list "
            "(POST /v1/projects/{id}/successor), one year after the selection"
        },
    )


class CallPageOut(BaseSchema):
    items = fields.List(fields.Nested(CallOut))
    next_cursor = fields.String(allow_none=True)


class InstitutionPageOut(BaseSchema):
    items = fields.List(fields.Nested(InstitutionOut))
    next_cursor = fields.String(allow_none=True)


# ---------------------------------------------------------------- applications


class YearlyTargetIn(BaseSchema):
    year = Whole(FIRST_YEAR, LAST_YEAR, required=True)
    target = Text(1000, multiline=True, required=True)


class TeamMemberIn(BaseSchema):
    """A team member. The ID number and phone are personal data: never echoed, masked on output."""

    name = Text(50, required=True)
    title = Text(50, required=True, metadata={"description": "professional title (职称)"})
    role = Text(50, required=True, metadata={"description": "role in the team, e.g. 负责人"})
    id_number = resident_id(required=True)
    phone = mobile(required=True)


class OrganisationIn(BaseSchema):
    """A lead or member organisation of a vocational education group."""

    name = Text(200, required=True)
    kind = choice(ORGANISATION_KINDS, required=True)
    credit_code = CreditCode()


class EnterprisePartnerIn(BaseSchema):
    name = Text(200, required=True)
    credit_code = CreditCode(required=True)


class MaterialOut(BaseSchema):
    """A file filed with an application (申报材料), or an evidence file of an annual report (佐证材料)."""

    id = fields.String()
    application_id = fields.String(metadata={"description": "its application's (申报材料)"})
    report_id = fields.String(metadata={"description": "its annual report's (佐证材料)"})
    kind = fields.String(metadata={"description": ", ".join(MATERIAL_KINDS)})
    filename = fields.String()
    media_type = fields.String()
    size = fields.Integer(metadata={"description": "bytes"})
    sha256 = fields.String()
    uploaded_by = fields.String()
    uploaded_at = UtcDateTime()
    download = fields.Function(material_link, metadata={"description": "where to download it (GET)"})


class MaterialListOut(BaseSchema):
    items = fields.List(fields.Nested(MaterialOut))


class MaterialStepOut(BaseSchema):
    id = fields.String()
    kind = fields.String()
    filename = fields.String()
    sha256 = fields.String()
    size = fields.Integer()


class HistoryEntryOut(AuditEntryOut):
    """A step of an application's or an annual report's history: a status change, or a material
    added or removed (event material_added or material_removed, with the material)."""

    material = fields.Nested(MaterialStepOut, metadata={"description": "for a material_added or material_removed step"})


class _ApplicationContent(BaseSchema):
    title = Text(200)
    summary = Text(2000, min_length=0, multiline=True)
    construction_plan = Text(20_000, min_length=0, multiline=True, metadata={"description": "建设方案"})
    yearly_targets = ListOf(Object(YearlyTargetIn), max_items=LAST_YEAR - FIRST_YEAR + 1)
    budget_request_fen = fen()
    industry_fields = ListOf(
        choice({code: names[0] for code, names in INDUSTRY_FIELDS.items()}),
        min_items=1,
        max_items=MAX_INDUSTRY_FIELDS,
        metadata={"description": "专业大类 codes of the 2021 specialty catalogue (1 to 3); needed to submit"},
    )
    keywords = ListOf(Text(30), max_items=MAX_KEYWORDS, metadata={"description": "free keywords for matching experts"})
    performance_indicators = SafeDict(
        max_items=50, key_length=100, value_length=500, metadata={"description": "绩效指标: indicator -> target"}
    )
    team_members = ListOf(Object(TeamMemberIn), max_items=50, metadata={"description": "person and team categories"})
    lead_organisation = Object(OrganisationIn, metadata={"description": "edu-group only"})
    member_organisations = ListOf(Object(OrganisationIn), max_items=200, metadata={"description": "edu-group only"})
    enterprise_partner = Object(EnterprisePartnerIn, metadata={"description": "master-studio and workshop"})

    @validates_schema
    def _no_repeats(self, data, **kwargs):
        errors = {}
        years = [t["year"] for t in data.get("yearly_targets", [])]
        if len(set(years)) != len(years):
            errors["yearly_targets"] = [Bilingual("Each year at most once.", "每个年度只能填写一次。")]
        ids = [m["id_number"] for m in data.get("team_members", [])]
        if len(set(ids)) != len(ids):
            errors["team_members"] = [Bilingual("The same person is listed twice.", "同一人员重复填写。")]
        for name in ("industry_fields", "keywords"):
            values = data.get(name, [])
            if len(set(values)) != len(values):
                errors[name] = [Bilingual("Each at most once.", "不能重复填写。")]
        if errors:
            raise ValidationError(errors)


class ApplicationIn(_ApplicationContent):
    """A new draft application for a call; the rest can be filled in before submitting."""

    call_id = opaque_id(required=True)
    title = Text(200, required=True)


class ApplicationPatch(_ApplicationContent):
    """Changes to a draft: the fields given replace the stored ones."""

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(Bilingual("Nothing to change.", "没有要修改的内容。"))


class FindingOut(BaseSchema):
    rule = fields.String()
    passed = fields.Boolean()
    reason_zh = fields.String()
    reason_en = fields.String()


class EligibilityDecisionOut(BaseSchema):
    eligible = fields.Boolean()
    automatically_eligible = fields.Boolean()
    overridden = fields.Boolean()
    reason = fields.String(allow_none=True)
    actor = fields.String()
    at = UtcDateTime()
    findings = fields.List(fields.Nested(FindingOut))


class TeamMemberOut(BaseSchema):
    name = fields.String()
    title = fields.String()
    role = fields.String()
    id_number = Masked(metadata={"description": "masked, e.g. 430***********1234"})
    phone = Masked(metadata={"description": "masked, e.g. 138****5678"})


class ApplicationOut(_ApplicationContent):
    id = fields.String()
    call_id = fields.String()
    institution_id = fields.String()
    institution_name = fields.String()
    prefecture = fields.String()
    recommender = fields.Nested(RecommenderOut, metadata={"description": "who recommends or declines it"})
    category = fields.String()
    state = fields.String(metadata={"description": ", ".join(APPLICATION_STATES)})
    team_members = fields.List(fields.Nested(TeamMemberOut))
    eligibility_findings = fields.List(
        fields.Nested(FindingOut), metadata={"description": "the automatic rules, run on submit and on the decision"}
    )
    eligibility_decision = fields.Nested(EligibilityDecisionOut, allow_none=True)
    materials = fields.List(fields.Nested(MaterialOut), metadata={"description": "the files filed (申报材料)"})
    history = fields.List(
        fields.Nested(HistoryEntryOut),
        metadata={"description": "status changes and materials added or removed, by time"},
    )
    submitted_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class ApplicationPageOut(BaseSchema):
    items = fields.List(fields.Nested(ApplicationOut))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "pass as cursor for the next page; null on the last"}
    )


# ---------------------------------------------------------------- decisions


class DecisionIn(BaseSchema):
    """Recommend or withdraw, with an optional reason."""

    reason = Text(1000, multiline=True)


class DeclineIn(BaseSchema):
    """Decline to recommend, or cancel a call: the reason is required."""

    reason = Text(1000, multiline=True, required=True)


class ExtensionIn(BaseSchema):
    """A later closing time for an open call, with an optional reason."""

    closes_at = UtcDateTime(required=True, metadata={"description": "after the current closes_at"})
    reason = Text(1000, multiline=True)


class EligibilityOverrideIn(BaseSchema):
    """The province's eligibility decision: confirm the automatic findings, or override
    them (a reason is then required)."""

    eligible = Flag(required=True)
    reason = Text(1000, multiline=True)


# ---------------------------------------------------------------- lists


class PageQuery(BaseSchema):
    """`?limit=&cursor=` of every list; query strings, so numbers come as text."""

    limit = Whole(1, MAX_PAGE_SIZE, strict=False, load_default=DEFAULT_PAGE_SIZE)
    cursor = opaque_id(metadata={"description": "next_cursor of the previous page"})


class InstitutionQuery(PageQuery):
    prefecture = choice(PREFECTURES)
    type = choice(INSTITUTION_TYPES)


class CallQuery(PageQuery):
    category = choice(catalogue().codes)
    state = choice(CALL_STATES)


class ProjectQuery(PageQuery):
    category = choice(catalogue().codes)
    year = Whole(ACTION_YEARS.start, ACTION_YEARS[-1], strict=False)
    prefecture = choice(PREFECTURES)
    state = choice(PROJECT_STATES)


class ApplicationQuery(PageQuery):
    call_id = opaque_id()
    institution_id = opaque_id()
    state = choice(APPLICATION_STATES)


# ---------------------------------------------------------------- projects


class YearlyTargetOut(BaseSchema):
    year = fields.Integer()
    target = fields.String()


class ProjectPlanOut(BaseSchema):
    """The construction plan as approved (建设方案, 年度目标, 绩效指标)."""

    title = fields.String()
    summary = fields.String(allow_none=True)
    construction_plan = fields.String(allow_none=True)
    yearly_targets = fields.List(fields.Nested(YearlyTargetOut), allow_none=True)
    performance_indicators = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    budget_request_fen = fields.Integer(allow_none=True)
    industry_fields = fields.List(fields.String(), allow_none=True)


class MoneyOut(BaseSchema):
    currency = fields.String()
    total = fields.Integer(metadata={"description": "fen"})
    by_source = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "fen per source: provincial_special, local_special_bond, local_government, social"},
    )


class ProjectMilestoneOut(BaseSchema):
    tranche = fields.Integer()
    trigger = fields.String(metadata={"description": "approval, mid_term or acceptance"})
    percent = fields.Integer()
    amount = fields.Nested(MoneyOut)
    state = fields.String(metadata={"description": "scheduled, released or withheld"})
    reason = fields.String(allow_none=True)


class ProjectOut(BaseSchema):
    """A project (立项项目): the approved application's plan, its money and milestones as
    funding reports them, its state and its history from creation. Its id is the application's."""

    id = fields.String()
    call_id = fields.String()
    category = fields.String()
    year = fields.Integer(metadata={"description": "the action year of its call"})
    institution_id = fields.String()
    institution_name = fields.String()
    prefecture = fields.String()
    recommender = fields.Nested(RecommenderOut)
    rank = fields.Integer()
    state = fields.String(metadata={"description": ", ".join(PROJECT_STATES)})
    plan = fields.Nested(ProjectPlanOut)
    award = fields.Nested(MoneyOut, allow_none=True, metadata={"description": "null until funding allocates it"})
    milestones = fields.List(fields.Nested(ProjectMilestoneOut))
    materials = fields.List(fields.Nested(MaterialOut), metadata={"description": "its application's files (申报材料)"})
    succeeds = fields.String(
        allow_none=True,
        metadata={"description": "the project that left, whose place it took from its call's reserve list"},
    )
    succeeded_by = fields.String(
        allow_none=True,
        metadata={"description": "once it has left: the project its place went to from its call's reserve list"},
    )
    history = fields.List(fields.Nested(AuditEntryOut))
    created_at = UtcDateTime()
    reports = fields.List(
        fields.Nested("AnnualReportBriefOut"),
        metadata={"description": "its annual progress reports, by year (on GET /v1/projects/{id})"},
    )


class ProjectPageOut(BaseSchema):
    items = fields.List(fields.Nested(ProjectOut))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "pass as cursor for the next page; null on the last"}
    )


# ---------------------------------------------------------------- supervision


class SupervisionWeightsIn(BaseSchema):
    """The province's rubric for a year's supervision: a weight per measure, summing to 100."""

    year = Whole(ACTION_YEARS.start, ACTION_YEARS[-1], required=True, metadata={"description": "the year supervised"})
    weights = fields.Dict(
        keys=choice(SUPERVISION_MEASURES),
        values=fields.Integer(strict=True, validate=validate.Range(0, 100)),
        required=True,
        metadata={
            "description": "a weight (0-100) for each of: "
            + ", ".join(f"{code} ({label})" for code, label in SUPERVISION_MEASURES.items())
            + "; together 100"
        },
    )

    @validates_schema
    def _complete(self, data: dict, **_) -> None:
        weights = data.get("weights") or {}
        missing = [code for code in SUPERVISION_MEASURES if code not in weights]
        if missing:
            raise ValidationError(
                {
                    "weights": [
                        Bilingual(
                            f"Give a weight for each measure; missing: {', '.join(missing)}.",
                            f"每项指标都需给出权重；缺少：{'、'.join(missing)}。",
                        )
                    ]
                }
            )
        if sum(weights.values()) != 100:
            raise ValidationError(
                {
                    "weights": [
                        Bilingual(
                            f"The weights must sum to 100, not {sum(weights.values())}.",
                            f"权重合计应为100，当前为{sum(weights.values())}。",
                        )
                    ]
                }
            )


class SupervisionWeightsOut(BaseSchema):
    year = fields.Integer(attribute="_id")
    weights = fields.Dict(keys=fields.String(), values=fields.Integer())
    updated_at = UtcDateTime()
    updated_by = fields.String()


# ---------------------------------------------------------------- annual progress reports


class ReportWindowIn(BaseSchema):
    """The province opens a year's annual progress reports (年度建设进展报告)."""

    year = Whole(ACTION_YEARS.start, ACTION_YEARS[-1], required=True, metadata={"description": "the year reported on"})
    due_at = UtcDateTime(required=True, metadata={"description": "the deadline; a later filing is late"})
    opens_at = UtcDateTime(metadata={"description": "when filing opens; now if absent"})
    title = Text(200)
    remind_hours = Whole(
        1,
        60 * 24,
        metadata={
            "description": f"institutions not filed yet are reminded this many hours before due_at "
            f"(default {DEFAULT_REMIND_HOURS})"
        },
    )


class DeadlineExtensionIn(BaseSchema):
    """A later deadline for a reporting window, with an optional reason."""

    due_at = UtcDateTime(required=True, metadata={"description": "after the current due_at, which has not passed"})
    reason = Text(1000, multiline=True)


class WindowExtensionOut(BaseSchema):
    from_due_at = UtcDateTime()
    to_due_at = UtcDateTime()
    actor = fields.String()
    at = UtcDateTime()
    reason = fields.String()


class ReportWindowOut(BaseSchema):
    id = fields.String()
    year = fields.Integer()
    title = fields.String()
    opens_at = UtcDateTime()
    due_at = UtcDateTime()
    remind_hours = fields.Integer()
    created_at = UtcDateTime()
    created_by = fields.String()
    extensions = fields.List(fields.Nested(WindowExtensionOut), metadata={"description": "each moved deadline"})


class ReportWindowListOut(BaseSchema):
    items = fields.List(fields.Nested(ReportWindowOut))


class AssessmentIn(BaseSchema):
    """How one target of the year stands, with the evidence."""

    target_index = Whole(
        0,
        99,
        required=True,
        metadata={"description": "the target's place among the plan's targets of the year, from 0"},
    )
    status = choice(TARGET_STATUSES, required=True)
    evidence = Text(4000, multiline=True, required=True, metadata={"description": "what shows it (佐证说明)"})


class AnnualReportIn(BaseSchema):
    """A filing (or refiling) of a project's annual progress report: every target of the year assessed."""

    summary = Text(8000, multiline=True, required=True, metadata={"description": "the year's progress (建设进展)"})
    assessments = ListOf(Object(AssessmentIn), max_items=100, required=True)


class AnnualReportDraftIn(BaseSchema):
    """A report started as a draft, to gather its evidence files before filing it."""

    year = Whole(ACTION_YEARS.start, ACTION_YEARS[-1], required=True, metadata={"description": "the year reported on"})


class AnnualReportFileIn(AnnualReportIn, AnnualReportDraftIn):
    """A filing: of the project's draft for the year if it started one, else of a new report."""


class AssessmentOut(BaseSchema):
    target_index = fields.Integer()
    target = fields.String()
    status = fields.String(metadata={"description": ", ".join(TARGET_STATUSES)})
    evidence = fields.String()


class AnnualReportOut(BaseSchema):
    """A project's annual progress report, with its history (who, when, from, to, why)."""

    id = fields.String()
    project_id = fields.String()
    year = fields.Integer()
    window_id = fields.String()
    due_at = UtcDateTime()
    title = fields.String(metadata={"description": "the project's title"})
    category = fields.String()
    institution_id = fields.String()
    institution_name = fields.String()
    prefecture = fields.String()
    recommender = fields.Nested(RecommenderOut)
    state = fields.String(metadata={"description": ", ".join(REPORT_STATES)})
    summary = fields.String()
    assessments = fields.List(fields.Nested(AssessmentOut))
    late = fields.Boolean(metadata={"description": "first filed after due_at"})
    first_filed_at = UtcDateTime(allow_none=True, metadata={"description": "null for a draft"})
    filed_at = UtcDateTime(allow_none=True, metadata={"description": "the latest filing; null for a draft"})
    filings = fields.Integer()
    return_reason = fields.String(allow_none=True, metadata={"description": "why it was last returned"})
    materials = fields.List(
        fields.Nested(MaterialOut),
        metadata={"description": "its evidence files (佐证材料; on GET /v1/annual-reports/{id})"},
    )
    history = fields.List(
        fields.Nested(HistoryEntryOut),
        metadata={"description": "status changes and evidence files added or removed, by time"},
    )


class AnnualReportBriefOut(BaseSchema):
    """A report as its project's page lists it."""

    id = fields.String()
    year = fields.Integer()
    state = fields.String()
    late = fields.Boolean()
    first_filed_at = UtcDateTime(allow_none=True)
    filed_at = UtcDateTime(allow_none=True)


class AnnualReportPageOut(BaseSchema):
    items = fields.List(fields.Nested(AnnualReportOut))
    next_cursor = fields.String(allow_none=True)


class AnnualReportQuery(PageQuery):
    year = Whole(ACTION_YEARS.start, ACTION_YEARS[-1], strict=False)
    state = choice(REPORT_STATES)
    prefecture = choice(PREFECTURES)
    project_id = opaque_id()


class DueProjectOut(BaseSchema):
    project_id = fields.String()
    title = fields.String()
    institution_id = fields.String()
    institution_name = fields.String()
    prefecture = fields.String()
    category = fields.String()
    report_id = fields.String()
    first_filed_at = UtcDateTime()
    state = fields.String()


class OverdueOut(BaseSchema):
    """The year's late and missing reports, within the reader's scope."""

    window_id = fields.String()
    year = fields.Integer()
    due_at = UtcDateTime()
    past_due = fields.Boolean(metadata={"description": "the deadline has passed: `missing` are overdue"})
    missing = fields.List(
        fields.Nested(DueProjectOut), metadata={"description": "due projects without a report (overdue once past_due)"}
    )
    late = fields.List(fields.Nested(DueProjectOut), metadata={"description": "reports first filed after due_at"})
