"""What crosses the gateway's HTTP boundary.

ProblemSchema, PageQuerySchema/PageSchema and ReadinessSchema are the gateway's own. The
programme and institution schemas belong to the applications service: they stay here only until
services/applications/schemas.py provides them, then the routes import them from there.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.applications.domain.credit_code import LENGTH as CREDIT_CODE_LENGTH
from services.applications.domain.institutions import INSTITUTION_TYPES, PREFECTURES

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


def text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_length), not_blank], **kwargs)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class ProblemSchema(StrictSchema):
    type = fields.String(required=True, metadata={"description": "A URI naming the kind of problem (urn:chuyi:problem:<kind>)."})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(required=True, metadata={"description": "The request path."})
    request_id = fields.String(required=True, metadata={"description": "Quote it when reporting a problem."})
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()),
        metadata={"description": "For invalid input: the messages for each field (dotted path for nested fields)."},
    )


class PageQuerySchema(StrictSchema):
    """The query of every list: extend it with the list's filters."""

    limit = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"How many items to return (1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE})."},
    )
    cursor = fields.String(
        validate=validate.Length(min=1, max=512),
        metadata={"description": "The next_cursor of the previous page; omit for the first page."},
    )


class PageSchema(StrictSchema):
    """The body of every list: extend it with `items = fields.List(fields.Nested(ItemSchema))`."""

    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "Pass it as cursor for the next page; null on the last."},
    )


class CheckSchema(StrictSchema):
    ok = fields.Boolean(required=True)
    detail = fields.String()


class ReadinessSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "not_ready"]))
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema), required=True)


class HealthSchema(StrictSchema):
    status = fields.String(required=True)


class ProgrammeSchema(StrictSchema):
    code = fields.String(required=True, metadata={"description": "The category code, e.g. hv-group."})
    name = fields.String(required=True, metadata={"description": "The category's Chinese name."})
    name_en = fields.String(required=True)
    quota = fields.Integer(required=True, metadata={"description": "How many may be selected by 2025."})
    eligible_institution_types = fields.List(fields.String(validate=validate.OneOf(list(INSTITUTION_TYPES))), required=True)
    selected_count = fields.Integer(required=True, metadata={"description": "How many were selected so far."})


class ProgrammeListSchema(StrictSchema):
    items = fields.List(fields.Nested(ProgrammeSchema), required=True)


class InstitutionCreateSchema(StrictSchema):
    name = text(200, required=True, metadata={"description": "The institution's full Chinese name."})
    type = fields.String(required=True, validate=validate.OneOf(list(INSTITUTION_TYPES)))
    prefecture = fields.String(required=True, validate=validate.OneOf(PREFECTURES))
    county = text(100, required=True, metadata={"description": "The county (县市区)."})
    sponsor = text(200, required=True, metadata={"description": "The sponsor or competent department (举办者/主管部门)."})
    credit_code = fields.String(
        required=True, validate=validate.Length(equal=CREDIT_CODE_LENGTH),
        metadata={"description": "The unified social credit code (统一社会信用代码)."},
    )


class InstitutionSchema(InstitutionCreateSchema):
    id = fields.String(required=True)
    created_at = fields.DateTime(required=True, metadata={"description": "RFC 3339, UTC."})


class InstitutionImportResultSchema(StrictSchema):
    imported = fields.Integer(required=True)
    institution_ids = fields.List(fields.String(), required=True)
