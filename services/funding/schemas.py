"""What crosses the funding service's boundary: budget, funding rule and milestone input,
and the data of the finance events (the same contract as the JSON Schemas of
docs/asyncapi.yaml; tests/unit/test_asyncapi.py keeps the two in step).

Money is an integer number of fen (`strict`: no floats, no strings) with
`currency: "CNY"`. Unknown fields are rejected.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from services.funding.domain.budget import CATEGORIES, FIRST_YEAR
from services.funding.domain.milestones import FUNDING, MILESTONES, RESULTS
from services.funding.domain.money import CURRENCY, SOURCES
from services.funding.domain.rules import (
    CLAWBACK_POLICIES, TRIGGERS, AwardTier, FundingRule, InvalidRule, ShareAward, TieredAward, TrancheSpec,
)

MAX_ID = 128


def _fen(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)


def _id(**kwargs) -> fields.String:
    return fields.String(required=True, validate=[validate.Length(min=1, max=MAX_ID),
                                                  validate.Regexp(r"^[^:]+$", error="must not contain ':'")], **kwargs)


def _year() -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=FIRST_YEAR, max=2099))


def _category() -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(CATEGORIES))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


# --- input ------------------------------------------------------------------------------

class BudgetSchema(_Strict):
    """POST /v1/budgets: fund the budget line (year, category, source) with `amount` fen."""

    year = _year()
    category = _category()
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    currency = fields.String(load_default=CURRENCY, validate=validate.Equal(CURRENCY))


class AwardTierSchema(_Strict):
    from_rank = fields.Integer(required=True, strict=True)
    to_rank = fields.Integer(load_default=None, allow_none=True, strict=True)
    amount = fields.Integer(required=True, strict=True)

    @post_load
    def _make(self, data, **kwargs):
        return AwardTier(**data)


AWARD_METHOD_FIELDS = {"tiers": {"tiers"}, "share": {"percent", "cap"}}


class AwardSchema(_Strict):
    """`{"method": "tiers", "tiers": [...]}` or `{"method": "share", "percent": 80, "cap": ...}`."""

    method = fields.String(required=True, validate=validate.OneOf(AWARD_METHOD_FIELDS))
    tiers = fields.List(fields.Nested(AwardTierSchema))
    percent = fields.Integer(strict=True)
    cap = fields.Integer(strict=True, allow_none=True)

    @validates_schema
    def _fields_of_method(self, data, **kwargs):
        used = AWARD_METHOD_FIELDS[data["method"]]
        errors = {name: [f"not used by the {data['method']!r} method"]
                  for name in set(data) - used - {"method"}}
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


class TrancheSpecSchema(_Strict):
    trigger = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    percent = fields.Integer(required=True, strict=True)

    @post_load
    def _make(self, data, **kwargs):
        return TrancheSpec(**data)


class FundingRuleSchema(_Strict):
    """A call's funding rule; loads to a `FundingRule`. The rule's own checks (tiers
    contiguous from rank 1, percentages summing to 100, ...) come back keyed by the
    dotted field path, e.g. `award.tiers.1.from_rank`."""

    award = fields.Nested(AwardSchema, required=True)
    sources = fields.Dict(keys=fields.String(validate=validate.OneOf(SOURCES)),
                          values=fields.Integer(strict=True), required=True)
    tranches = fields.List(fields.Nested(TrancheSpecSchema), required=True)
    clawback = fields.String(load_default="beyond_approval", validate=validate.OneOf(CLAWBACK_POLICIES))

    @post_load
    def _make(self, data, **kwargs):
        try:
            return FundingRule(data["award"], data["sources"], tuple(data["tranches"]), data["clawback"])
        except InvalidRule as invalid:
            raise ValidationError(invalid.errors) from None


class MilestoneSchema(_Strict):
    """POST /v1/projects/{id}/milestones. `reason` is required for rectify and fail."""

    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    result = fields.String(required=True, validate=validate.OneOf(RESULTS))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def _reason(self, data, **kwargs):
        event = f"{data['milestone']}_{data['result']}"
        if FUNDING.transitions[event].requires_reason and not (data.get("reason") or "").strip():
            raise ValidationError({"reason": [f"required when the result is {data['result']!r}"]})


# --- finance event data -------------------------------------------------------------------

class SourceAmountsSchema(_Strict):
    """Fen per funding source; at least one source."""

    provincial_special = _fen()
    local_special_bond = _fen()
    local_government = _fen()
    social = _fen()

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(f"at least one of {list(SOURCES)}")


class MoneySchema(_Strict):
    currency = fields.String(required=True, validate=validate.Equal(CURRENCY))
    total = _fen(required=True)
    by_source = fields.Nested(SourceAmountsSchema, required=True)

    @validates_schema
    def _total_is_sum(self, data, **kwargs):
        parts = sum(data["by_source"].values())
        if data["total"] != parts:
            raise ValidationError({"total": [f"must equal the sum of by_source ({parts})"]})


class TrancheSchema(_Strict):
    index = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    trigger = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    percent = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100))
    amount = fields.Nested(MoneySchema, required=True)


class FundsAllocatedSchema(_Strict):
    project_id = _id()
    call_id = _id()
    year = _year()
    category = _category()
    rank = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    award = fields.Nested(MoneySchema, required=True)
    tranches = fields.List(fields.Nested(TrancheSchema), required=True, validate=validate.Length(min=1))
    clawback_policy = fields.String(required=True, validate=validate.OneOf(CLAWBACK_POLICIES))


class TrancheEventSchema(_Strict):
    """`tranche_scheduled` and `tranche_released`."""

    project_id = _id()
    call_id = _id()
    tranche = fields.Nested(TrancheSchema, required=True)


class TrancheWithheldSchema(TrancheEventSchema):
    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    reason = fields.String(required=True)


class FundsClawedBackSchema(_Strict):
    project_id = _id()
    call_id = _id()
    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    policy = fields.String(required=True, validate=validate.OneOf([p for p in CLAWBACK_POLICIES if p != "none"]))
    reason = fields.String(required=True)
    amount = fields.Nested(MoneySchema, required=True)
    tranches = fields.List(fields.Nested(TrancheSchema), required=True, validate=validate.Length(min=1))


class BudgetExhaustedSchema(_Strict):
    call_id = _id()
    year = _year()
    category = _category()
    needed = fields.Nested(MoneySchema, required=True)
    available = fields.Nested(MoneySchema, required=True)
    shortfall = fields.Nested(MoneySchema, required=True)


#: event name (= routing key) -> the marshmallow schema of its CloudEvent `data` (the
#: kernel's `BaseStore.events` takes this as it is)
EVENT_DATA_SCHEMAS: dict[str, Schema] = {
    "funds_allocated": FundsAllocatedSchema(),
    "tranche_scheduled": TrancheEventSchema(),
    "tranche_released": TrancheEventSchema(),
    "tranche_withheld": TrancheWithheldSchema(),
    "funds_clawed_back": FundsClawedBackSchema(),
    "budget_exhausted": BudgetExhaustedSchema(),
}
