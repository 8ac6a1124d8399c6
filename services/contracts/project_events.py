"""The project events of the applications service that other services consume, as they travel
on `applications.events`: event name (= routing key) -> the marshmallow schema of its CloudEvent
`data`, mirroring docs/asyncapi.yaml. (Its other events are still kept with the service,
services/applications/events.py, until issue 17 moves them here.)"""
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
    place_rank = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                                metadata={"description": "the rank of the place, the left project's"})
    successor_project_id = id_field()
    institution_id = id_field()
    prefecture = fields.String(required=True)
    title = fields.String(required=True)
    rank = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                          metadata={"description": "the successor's rank in the call's ranking"})
    reserve_position = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    budget_request_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    by = fields.String(required=True, metadata={"description": "who gave the place: the provincial office"})


EVENT_DATA_SCHEMAS: dict[str, Schema] = {"project_replaced": ProjectReplacedSchema()}
