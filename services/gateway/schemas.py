"""What crosses the gateway's HTTP boundary and is the gateway's own: problems, pages, readiness.
The schemas of each service's resources live in that service's schemas.py."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class ProblemSchema(StrictSchema):
    type = fields.String(
        required=True, metadata={"description": "A URI naming the kind of problem (urn:chuyi:problem:<kind>)."}
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(required=True, metadata={"description": "The request path."})
    request_id = fields.String(required=True, metadata={"description": "Quote it when reporting a problem."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "For invalid input: the messages for each field (dotted path for nested fields)."},
    )


class PageQuerySchema(StrictSchema):
    """The query of every list: extend it with the list's filters."""

    limit = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"How many items to return (1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE})."},
    )
    # Every service's cursors are ids or base64url text; an unbounded alphabet would let a valid
    # cursor outgrow the request line the HTTP server accepts (4 KiB) once percent-encoded.
    cursor = fields.String(
        validate=[
            validate.Length(min=1, max=512),
            validate.Regexp(r"^[A-Za-z0-9_=-]+$", error="Only letters, digits and _ = - (as next_cursor gives)."),
        ],
        metadata={"description": "The next_cursor of the previous page; omit for the first page."},
    )


class PageSchema(StrictSchema):
    """The body of every list: extend it with `items = fields.List(fields.Nested(ItemSchema))`."""

    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass it as cursor for the next page; null on the last."},
    )


class CheckSchema(StrictSchema):
    ok = fields.Boolean(required=True)
    detail = fields.String()


class ReadinessSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "not_ready"]))
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema), required=True)


class HealthSchema(StrictSchema):
    status = fields.String(required=True)
