"""The funding service's finance events as they travel on `funding.events`: event name
(= routing key) -> the marshmallow schema of its CloudEvent `data`, mirroring the AsyncAPI
contract (docs/asyncapi.yaml; subjects and order are described there). The fields every
funding schema shares (ids, years, categories, amounts, money) are here too."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.fields import StrictSchema
from services.contracts.funding import (
    CATEGORIES,
    CLAWBACK_POLICIES,
    CURRENCY,
    FIRST_YEAR,
    LAST_YEAR,
    MILESTONES,
    SOURCES,
    TRIGGERS,
)

MAX_ID = 128


def amount_field(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)


def id_field(**kwargs) -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_ID), validate.Regexp(r"^[^:]+$", error="must not contain ':'")],
        **kwargs,
    )


def year_field() -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=FIRST_YEAR, max=LAST_YEAR))


def category_field() -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(CATEGORIES))


class SourceAmountsSchema(StrictSchema):
    """Fen per funding source; at least one source."""

    provincial_special = amount_field()
    local_special_bond = amount_field()
    local_government = amount_field()
    social = amount_field()

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(f"at least one of {list(SOURCES)}")


class MoneySchema(StrictSchema):
    currency = fields.String(required=True, validate=validate.Equal(CURRENCY))
    total = amount_field(required=True)
    by_source = fields.Nested(SourceAmountsSchema, required=True)

    @validates_schema
    def _total_is_sum(self, data, **kwargs):
        parts = sum(data["by_source"].values())
        if data["total"] != parts:
            raise ValidationError({"total": [f"must equal the sum of by_source ({parts})"]})


class TrancheSchema(StrictSchema):
    index = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    trigger = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    percent = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100))
    amount = fields.Nested(MoneySchema, required=True)


class FundsAllocatedSchema(StrictSchema):
    project_id = id_field()
    call_id = id_field()
    year = year_field()
    category = category_field()
    rank = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    award = fields.Nested(MoneySchema, required=True)
    tranches = fields.List(fields.Nested(TrancheSchema), required=True, validate=validate.Length(min=1))
    clawback_policy = fields.String(required=True, validate=validate.OneOf(CLAWBACK_POLICIES))


class TrancheEventSchema(StrictSchema):
    """`tranche_scheduled` and `tranche_released`."""

    project_id = id_field()
    call_id = id_field()
    tranche = fields.Nested(TrancheSchema, required=True)


class TrancheWithheldSchema(TrancheEventSchema):
    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    reason = fields.String(required=True)


class FundsClawedBackSchema(StrictSchema):
    project_id = id_field()
    call_id = id_field()
    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))
    policy = fields.String(required=True, validate=validate.OneOf([p for p in CLAWBACK_POLICIES if p != "none"]))
    reason = fields.String(required=True)
    amount = fields.Nested(MoneySchema, required=True)
    tranches = fields.List(fields.Nested(TrancheSchema), required=True, validate=validate.Length(min=1))


class ProjectWithdrawnSchema(StrictSchema):
    """A project was withdrawn (撤销) and leaves the action (动态调整): nothing more is paid to it."""

    project_id = id_field()
    call_id = id_field()
    category = category_field()
    reason = fields.String(required=True)
    withheld = fields.Nested(MoneySchema, required=True)
    clawed_back = fields.Nested(MoneySchema, required=True)


class ProjectFailedSchema(ProjectWithdrawnSchema):
    """A project failed a milestone and leaves the action (动态调整): nothing more is paid to it."""

    milestone = fields.String(required=True, validate=validate.OneOf(MILESTONES))


class BudgetExhaustedSchema(StrictSchema):
    call_id = id_field()
    year = year_field()
    category = category_field()
    needed = fields.Nested(MoneySchema, required=True)
    available = fields.Nested(MoneySchema, required=True)
    shortfall = fields.Nested(MoneySchema, required=True)


#: event name (= routing key) -> the marshmallow schema of its CloudEvent `data` (the
#: kernel's `BaseStore.events` takes this as it is)
EVENTS: dict[str, Schema] = {
    "funds_allocated": FundsAllocatedSchema(),
    "tranche_scheduled": TrancheEventSchema(),
    "tranche_released": TrancheEventSchema(),
    "tranche_withheld": TrancheWithheldSchema(),
    "funds_clawed_back": FundsClawedBackSchema(),
    "project_failed": ProjectFailedSchema(),
    "project_withdrawn": ProjectWithdrawnSchema(),
    "budget_exhausted": BudgetExhaustedSchema(),
}
