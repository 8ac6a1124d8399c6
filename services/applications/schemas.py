"""What crosses the applications service's boundary: marshmallow schemas.

The field types are the kernel's (`services.common.fields`): unknown fields are refused,
types are strict (no "1" for 1, no 1 for true), every text has a length limit, times are
RFC 3339 with a zone and come out in UTC, money is integer fen. Every error message is a
`Bilingual`: its text is English, `.zh` is Chinese (`services.common.bilingual.localise_errors`
picks one). The gateway also feeds these schemas to apispec for the OpenAPI document, so
each has a stable name and descriptions.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.applications.domain import credit_code, importing
from services.applications.domain.applications import APPLICATION_MACHINE, ORGANISATION_KINDS
from services.applications.domain.calls import CALL_MACHINE
from services.applications.domain.calls import call_terms_problems, check_call_quota, rubric_problems
from services.applications.domain.catalogue import catalogue
from services.applications.domain.institutions import INSTITUTION_TYPES, PREFECTURES, Institution
from services.applications.domain.messages import QuotaExceeded
from services.common.bilingual import Bilingual
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
    sponsor = Text(100, required=True, metadata={"description": "主管部门 (for a technician school, its HRSS department)"})
    credit_code = CreditCode(required=True)


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
    row = fields.Integer(allow_none=True, metadata={"description": "spreadsheet row (the header is row 1); null for the whole file"})
    field = fields.String(allow_none=True)
    column = fields.String(allow_none=True, metadata={"description": "the column header as written in the file"})
    message_zh = fields.String()
    message_en = fields.String()


class ImportReportOut(BaseSchema):
    ok = fields.Boolean()
    imported = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorOut))
    institution_ids = fields.List(fields.String(), metadata={"description": "the new institutions, in file order"})


def import_institutions(content: bytes, known_credit_codes: Collection[str] = ()) -> importing.ImportResult:
    """Check an uploaded CSV or XLSX register row by row with InstitutionIn, all or nothing."""
    schema = InstitutionIn()

    def validate_row(raw: dict[str, str]) -> tuple[dict | None, dict]:
        try:
            return schema.load(raw), {}
        except ValidationError as error:
            return None, error.normalized_messages()

    return importing.import_institutions(content, validate_row, known_credit_codes)


# ---------------------------------------------------------------- catalogue


class ProgrammeOut(BaseSchema):
    """A category of the Chuyi action with its quota to 2025 and its progress."""

    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    quota = fields.Integer()
    quota_year = fields.Integer()
    institution_types = fields.List(fields.String())
    applicant = fields.String(metadata={"description": "institution, person, team, joint (school + enterprise) or group"})
    level = fields.String(metadata={"description": "school, specialty, base, group, person or team"})
    one_per_institution = fields.Boolean()
    one_per_prefecture = fields.Boolean()
    required_fields = fields.List(
        fields.String(), metadata={"description": "application fields to fill in before submitting"}
    )
    notice_ref = fields.String(metadata={"description": "paragraph of 湘教发〔2022〕7号"})
    selected_count = fields.Integer(metadata={"description": "selected so far"})


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

    @validates_schema
    def _terms_fit(self, data, **kwargs):
        category = catalogue()[data["category"]]
        terms = call_terms_problems(category, data["prefecture_cap"], data["per_institution_limit"])
        errors = {field: [message] for field, message in terms.items()}
        try:
            check_call_quota(category, data["quota"], 0)
        except QuotaExceeded as exceeded:
            errors["quota"] = [exceeded.message]
        if data["closes_at"] <= data["opens_at"]:
            errors["closes_at"] = [Bilingual("Must be after opens_at.", "截止时间应晚于开始时间。")]
        if data["budget_max_fen"] < data["budget_min_fen"]:
            errors["budget_max_fen"] = [Bilingual("Must not be below budget_min_fen.", "经费上限不能低于下限。")]
        if errors:
            raise ValidationError(errors)


class CallOut(CallIn):
    id = fields.String()
    state = fields.String(metadata={"description": ", ".join(CALL_MACHINE.states)})
    history = fields.List(fields.Nested(AuditEntryOut))
    created_at = UtcDateTime()


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
    state = fields.String(metadata={"description": ", ".join(APPLICATION_MACHINE.states)})
    team_members = fields.List(fields.Nested(TeamMemberOut))
    eligibility_findings = fields.List(
        fields.Nested(FindingOut), metadata={"description": "the automatic rules, run on submit and on the decision"}
    )
    eligibility_decision = fields.Nested(EligibilityDecisionOut, allow_none=True)
    history = fields.List(fields.Nested(AuditEntryOut))
    submitted_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class ApplicationPageOut(BaseSchema):
    items = fields.List(fields.Nested(ApplicationOut))
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as cursor for the next page; null on the last"})


# ---------------------------------------------------------------- decisions


class DecisionIn(BaseSchema):
    """Recommend or withdraw, with an optional reason."""

    reason = Text(1000, multiline=True)


class DeclineIn(BaseSchema):
    """Decline to recommend: the reason is required."""

    reason = Text(1000, multiline=True, required=True)


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
    state = choice(CALL_MACHINE.states)


class ApplicationQuery(PageQuery):
    call_id = opaque_id()
    institution_id = opaque_id()
    state = choice(APPLICATION_MACHINE.states)
