"""The funding service's requests and replies, as the gateway validates and documents them:
budget, funding rule, allocation and milestone input, list queries and the replies. The data
of the finance events is a contract apart (services/contracts/funding_events.py).

Money is an integer number of fen (`strict`: no floats, no strings) with
`currency: "CNY"`. Unknown fields are rejected. Times in replies are RFC 3339 UTC (`Z`).
"""

from __future__ import annotations

from datetime import timezone

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from services.common.bilingual import Bilingual
from services.common.fields import StrictSchema
from services.contracts.funding import (
    CATEGORIES,
    CLAWBACK_POLICIES,
    CURRENCY,
    FIRST_YEAR,
    FUNDING_STATES,
    LAST_YEAR,
    MILESTONES,
    MOVEMENTS,
    RESULTS,
    SOURCES,
    TRANCHE_ACCOUNT,
    TRIGGERS,
)
from services.contracts.funding_events import (
    MAX_ID,
    MoneySchema,
    TrancheSchema,
    amount_field,
    category_field,
    year_field,
)
from services.contracts.funding_rules import AwardTier, FundingRule, InvalidRule, ShareAward, TieredAward, TrancheSpec

# --- input ------------------------------------------------------------------------------

MAX_APPROPRIATION = 10**13  # fen: 100 billion yuan at once, far beyond any Chuyi budget line


class BudgetSchema(StrictSchema):
    """POST /v1/budgets: fund the budget line (year, category, source) with `amount` fen;
    funding a line again adds to it."""

    year = year_field()
    category = category_field()
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    amount = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_APPROPRIATION),
        metadata={"description": "Fen to add to the line (1 yuan = 100 fen)."},
    )
    currency = fields.String(load_default=CURRENCY, validate=validate.Equal(CURRENCY))


class AwardTierSchema(StrictSchema):
    from_rank = fields.Integer(required=True, strict=True)
    to_rank = fields.Integer(load_default=None, allow_none=True, strict=True)
    amount = fields.Integer(required=True, strict=True)

    @post_load
    def _make(self, data, **kwargs):
        return AwardTier(**data)


AWARD_METHOD_FIELDS = {"tiers": {"tiers"}, "share": {"percent", "cap"}}


class AwardSchema(StrictSchema):
    """`{"method": "tiers", "tiers": [...]}` or `{"method": "share", "percent": 80, "cap": ...}`."""

    method = fields.String(required=True, validate=validate.OneOf(AWARD_METHOD_FIELDS))
    tiers = fields.List(fields.Nested(AwardTierSchema))
    percent = fields.Integer(strict=True)
    cap = fields.Integer(strict=True, allow_none=True)

    @validates_schema
    def _fields_of_method(self, data, **kwargs):
        used = AWARD_METHOD_FIELDS[data["method"]]
        errors = {name: [f"not used by the {data['method']!r} method"] for name in set(data) - used - {"method"}}
        required = "tiers" if data["method"] == "tiers" else "percent"
        if required not in data:
            errors[required] = [f"required by the {data['method']!r} method"]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data, **kwargs):
        if data["method"] == "tiers":
            return TieredAward(tuple(data["tiers"]))
        return ShareAward(data["percent"], data.get("cap"))


class TrancheSpecSchema(StrictSchema):
    trigger = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    percent = fields.Integer(required=True, strict=True)

    @post_load
    def _make(self, data, **kwargs):
        return TrancheSpec(**data)


class FundingRuleSchema(StrictSchema):
    """A call's funding rule; loads to a `FundingRule`. The rule's own checks (tiers
    contiguous from rank 1, percentages summing to 100, ...) come back keyed by the
    dotted field path, e.g. `award.tiers.1.from_rank`."""

    award = fields.Nested(AwardSchema, required=True)
    sources = fields.Dict(
        keys=fields.String(validate=validate.OneOf(SOURCES)), values=fields.Integer(strict=True), required=True
    )
    tranches = fields.List(fields.Nested(TrancheSpecSchema), required=True)
    clawback = fields.String(load_default="beyond_approval", validate=validate.OneOf(CLAWBACK_POLICIES))

    @post_load
    def _make(self, data, **kwargs):
        try:
            return FundingRule(data["award"], data["sources"], tuple(data["tranches"]), data["clawback"])
        except InvalidRule as invalid:
            raise ValidationError(invalid.errors) from None


RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class FundingRuleCreateSchema(FundingRuleSchema):
    """POST /v1/funding-rules: a rule and, optionally, the id calls will reference it by
    (their `funding_rule`); without one, an id is made. Loads to {id, name, rule}."""

    id = fields.String(
        validate=[
            validate.Length(min=1, max=64),
            validate.Regexp(RULE_ID, error="letters, digits and . _ - only, starting with a letter or digit"),
        ],
        metadata={"description": "The id calls reference in `funding_rule`, e.g. `hv-group-2026`."},
    )
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))

    @post_load
    def _make(self, data, **kwargs):
        rule = super()._make({k: v for k, v in data.items() if k not in ("id", "name")}, **kwargs)
        return {"id": data.get("id"), "name": data.get("name"), "rule": rule}


class AllocationRequestSchema(StrictSchema):
    """POST /v1/calls/{id}/allocation. Without `year`, the call's action year."""

    year = fields.Integer(
        strict=True,
        validate=validate.Range(min=FIRST_YEAR, max=LAST_YEAR),
        metadata={
            "description": "The budget year to allocate from; default: the call's action year "
            "(for a call without one, this year in China)."
        },
    )


class MilestoneSchema(StrictSchema):
    """POST /v1/projects/{id}/milestones: the province's direct record, an override of the
    expert panels (docs/panels.md), so `reason` is always required."""

    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    result = fields.String(required=True, validate=validate.OneOf(RESULTS))
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "why the province records the result itself, without a panel (always required)"},
    )

    @validates_schema
    def _reason(self, data, **kwargs):
        if not (data.get("reason") or "").strip():
            raise ValidationError(
                {
                    "reason": [
                        Bilingual(
                            f"required: a direct record of the {data['milestone']} result ({data['result']}) overrides the expert "
                            "panels and must say why",
                            f"必填：省级直接记录{'中期检查' if data['milestone'] == 'mid_term' else '验收'}结论，"
                            "不经专家组，须说明理由",
                        )
                    ]
                }
            )


class WithdrawalSchema(StrictSchema):
    """POST /v1/projects/{id}/withdrawal: the province withdraws a project (撤销), with the reason."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))

    @validates_schema
    def _reason(self, data, **kwargs):
        if not data["reason"].strip():
            raise ValidationError({"reason": ["required: say why the project is withdrawn"]})


# --- list queries -------------------------------------------------------------------------

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class PageQuerySchema(StrictSchema):
    limit = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Items per page (1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE})."},
    )
    cursor = fields.String(
        validate=validate.Length(min=1, max=512),
        metadata={"description": "The next_cursor of the previous page; omit for the first page."},
    )


class BudgetQuerySchema(PageQuerySchema):
    year = fields.Integer(validate=validate.Range(min=FIRST_YEAR, max=LAST_YEAR))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    source = fields.String(validate=validate.OneOf(SOURCES))


class LedgerQuerySchema(PageQuerySchema):
    project_id = fields.String(
        validate=validate.Length(min=1, max=MAX_ID), metadata={"description": "Only the movements of this project."}
    )
    source = fields.String(validate=validate.OneOf(SOURCES), metadata={"description": "Only this funding source."})


# --- replies ------------------------------------------------------------------------------


class UtcTime(fields.DateTime):
    """RFC 3339 in UTC with `Z`, to the millisecond (as in the events)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditEntrySchema(StrictSchema):
    event = fields.String(required=True)
    from_state = fields.String(required=True)
    to_state = fields.String(required=True)
    actor = fields.String(
        required=True,
        metadata={
            "description": "`role:sub` of who did it; `system:funding` for an allocation on selection_finalized."
        },
    )
    at = UtcTime(required=True)
    reason = fields.String(allow_none=True, required=True)


class BudgetLineSchema(StrictSchema):
    id = fields.String(required=True, attribute="_id", metadata={"description": "`<year>:<category>:<source>`"})
    year = year_field()
    category = category_field()
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    currency = fields.String(required=True, validate=validate.Equal(CURRENCY))
    appropriated = amount_field(required=True, metadata={"description": "Everything put into the line."})
    reserved = amount_field(required=True, metadata={"description": "Awarded to projects."})
    available = amount_field(
        required=True, metadata={"description": "appropriated - reserved: what allocations may use."}
    )
    updated_at = UtcTime(required=True)


class BudgetLinePageSchema(StrictSchema):
    items = fields.List(fields.Nested(BudgetLineSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class FundingRuleOutSchema(StrictSchema):
    id = fields.String(required=True, attribute="_id")
    name = fields.String(required=True, allow_none=True)
    award = fields.Nested(AwardSchema, required=True)
    sources = fields.Dict(keys=fields.String(validate=validate.OneOf(SOURCES)), values=fields.Integer(), required=True)
    tranches = fields.List(fields.Nested(TrancheSpecSchema), required=True)
    clawback = fields.String(required=True, validate=validate.OneOf(CLAWBACK_POLICIES))
    created_by = fields.String(required=True)
    created_at = UtcTime(required=True)


class ApprovedProjectSchema(StrictSchema):
    project_id = fields.String(required=True, metadata={"description": "The approved application's id."})
    institution_id = fields.String(required=True)
    prefecture = fields.String(required=True)
    title = fields.String(required=True)
    rank = fields.Integer(required=True)
    request = amount_field(required=True, metadata={"description": "What the application asked for (fen)."})


class ProjectAwardSchema(StrictSchema):
    project_id = fields.String(required=True)
    rank = fields.Integer(required=True)
    award = fields.Nested(MoneySchema, required=True)


class ShortfallSchema(StrictSchema):
    year = year_field()
    needed = fields.Nested(MoneySchema, required=True)
    available = fields.Nested(MoneySchema, required=True)
    shortfall = fields.Nested(MoneySchema, required=True)
    at = UtcTime(required=True)


class CallAllocationSchema(StrictSchema):
    """A call's allocation: its approved projects (from selection_finalized) and, once
    allocated, each project's award."""

    id = fields.String(required=True, attribute="_id", metadata={"description": "The call id."})
    call_id = fields.String(required=True)
    category = category_field()
    funding_rule = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["pending", "allocated"]))
    pending_reason = fields.String(
        required=True, allow_none=True, metadata={"description": "Why a pending call was not allocated on its own."}
    )
    finalized_at = UtcTime(required=True)
    year = fields.Integer(required=True, allow_none=True, metadata={"description": "The budget year, once allocated."})
    approved = fields.List(fields.Nested(ApprovedProjectSchema), required=True)
    awards = fields.List(fields.Nested(ProjectAwardSchema), required=True)
    total = fields.Nested(MoneySchema, required=True, allow_none=True)
    last_shortfall = fields.Nested(
        ShortfallSchema,
        required=True,
        allow_none=True,
        metadata={"description": "The latest attempt the budget did not cover."},
    )
    history = fields.List(fields.Nested(AuditEntrySchema), required=True)


class TrancheStateSchema(TrancheSchema):
    state = fields.String(required=True, validate=validate.OneOf(list(TRANCHE_ACCOUNT)))


class MilestoneRecordSchema(StrictSchema):
    id = fields.String(required=True)
    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    result = fields.String(required=True, validate=validate.OneOf(RESULTS))
    reason = fields.String(required=True, allow_none=True)
    recorded_by = fields.String(required=True)
    recorded_at = UtcTime(required=True)


class ProjectFundingSchema(StrictSchema):
    """A project's money. Per source: award = scheduled + released + withheld, and
    kept = released - clawed_back."""

    id = fields.String(
        required=True, attribute="_id", metadata={"description": "The project id (the approved application's id)."}
    )
    project_id = fields.String(required=True)
    call_id = fields.String(required=True)
    institution_id = fields.String(required=True)
    title = fields.String(required=True)
    year = year_field()
    category = category_field()
    rank = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(FUNDING_STATES))
    clawback_policy = fields.String(required=True, attribute="clawback", validate=validate.OneOf(CLAWBACK_POLICIES))
    award = fields.Nested(MoneySchema, required=True)
    tranches = fields.List(fields.Nested(TrancheStateSchema), required=True)
    scheduled = fields.Nested(MoneySchema, required=True, metadata={"description": "Awarded, not paid yet."})
    released = fields.Nested(MoneySchema, required=True, metadata={"description": "Paid, clawed back or not."})
    withheld = fields.Nested(MoneySchema, required=True, metadata={"description": "Cancelled by a failed milestone."})
    clawed_back = fields.Nested(MoneySchema, required=True)
    kept = fields.Nested(MoneySchema, required=True, metadata={"description": "released - clawed_back."})
    milestones = fields.List(fields.Nested(MilestoneRecordSchema), required=True)
    history = fields.List(fields.Nested(AuditEntrySchema), required=True)


class MilestoneRecordedSchema(MilestoneRecordSchema):
    project_id = fields.String(required=True)
    funding = fields.Nested(
        ProjectFundingSchema, required=True, metadata={"description": "The project's money after it."}
    )


class LedgerEntrySchema(StrictSchema):
    position = fields.Integer(
        required=True, attribute="_id", metadata={"description": "1, 2, ...: the order entries were committed in."}
    )
    movement = fields.String(required=True, validate=validate.OneOf(list(MOVEMENTS)))
    debit = fields.String(
        required=True, metadata={"description": "The account debited, e.g. `reserved:<project>:<source>`."}
    )
    credit = fields.String(required=True)
    amount = amount_field(required=True)
    currency = fields.String(required=True, validate=validate.Equal(CURRENCY))
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    at = UtcTime(required=True)
    project_id = fields.String(required=True, allow_none=True)
    call_id = fields.String(required=True, allow_none=True)
    tranche = fields.Integer(
        required=True, allow_none=True, metadata={"description": "The tranche's index in the plan."}
    )


class LedgerPageSchema(StrictSchema):
    items = fields.List(fields.Nested(LedgerEntrySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)
