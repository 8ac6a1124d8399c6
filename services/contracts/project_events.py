"""The project events of the applications service that systems outside the platform read too, as
they travel on `applications.events`: event name (= routing key) -> the marshmallow schema of its
CloudEvent `data`, mirroring docs/asyncapi.yaml (tests/unit/test_asyncapi.py holds them to it).
`applications_events.EVENTS` includes them among all of the service's events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.fields import StrictSchema
from services.contracts.funding_events import category_field, id_field, year_field


class ProjectReplacedSchema(StrictSchema):
    """Subject: `place-of-<the project that left>` (动态调整). The province gave its place to the best-ranked
    application waiting on its call's reserve list, which is approved and becomes a project
    (its own `project_established` follows); funding awards it by the call's rule."""

    project_id = id_field(metadata={"description": "the project that left"})
    call_id = id_field()
    category = category_field()
    year = year_field()
    left_as = fields.String(required=True, validate=validate.OneOf(["failed", "withdrawn"]))
    place_rank = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "the rank of the place, the left project's"},
    )
    successor_project_id = id_field()
    institution_id = id_field()
    prefecture = fields.String(required=True)
    title = fields.String(required=True)
    rank = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "the successor's rank in the call's ranking"},
    )
    reserve_position = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    budget_request_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    by = fields.String(required=True, metadata={"description": "who gave the place: the provincial office"})


EVENTS: dict[str, Schema] = {"project_replaced": ProjectReplacedSchema()}
