"""The list conventions, through a route module added the way each service issue adds its own."""

from __future__ import annotations

import pytest
from flask import Blueprint
from marshmallow import fields

from services.gateway.app import create_app
from services.gateway.auth import ANY_ROLE
from services.gateway.openapi import build_spec
from services.gateway.routing import operation
from services.gateway.schemas import MAX_PAGE_SIZE, PageQuerySchema, PageSchema, StrictSchema
from tests.unit.gateway.fake_rpc import gateway_settings
from tests.unit.gateway.helpers import bearer


class CallSchema(StrictSchema):
    id = fields.String(required=True)


class CallQuerySchema(PageQuerySchema):
    category = fields.String()


class CallPageSchema(PageSchema):
    items = fields.List(fields.Nested(CallSchema), required=True)


calls = Blueprint("calls_for_test", __name__)


@calls.get("/v1/calls")
@operation(summary="List calls", tag="calls", roles=ANY_ROLE, query=CallQuerySchema, responses={200: CallPageSchema})
def list_calls(call):
    return call.rpc("applications", "list_calls", **call.query).response()


@pytest.fixture
def client(rpc):
    rpc.on(
        "applications",
        "list_calls",
        lambda actor, limit, cursor=None, **filters: {
            "status": 200,
            "body": {"items": [{"id": f"call-{n}"} for n in range(limit)], "next_cursor": "abc"},
        },
    )
    app = create_app(gateway_settings(), rpc)
    app.register_blueprint(calls)
    return app.test_client()


def test_limit_defaults_and_cursor_and_filters_reach_the_service(client, rpc):
    response = client.get("/v1/calls?cursor=abc&category=hv-group", headers=bearer("finance"))
    assert response.status_code == 200
    assert len(response.json["items"]) == 20
    kwargs = rpc.last("list_calls").kwargs
    assert (kwargs["limit"], kwargs["cursor"], kwargs["category"]) == (20, "abc", "hv-group")


@pytest.mark.parametrize(
    "query", ["limit=0", f"limit={MAX_PAGE_SIZE + 1}", "limit=ten", "cursor=", "cursor=%E7%AC%AC2%E9%A1%B5"]
)
def test_a_limit_or_cursor_out_of_bounds_is_a_422_naming_it(client, query):
    response = client.get(f"/v1/calls?{query}", headers=bearer("finance"))
    assert response.status_code == 422
    assert list(response.json["errors"]) == [query.split("=")[0]]


def test_the_spec_shows_the_page_parameters_with_their_bounds(client):
    spec = build_spec(client.application)
    parameters = {p["name"]: p for p in spec["paths"]["/v1/calls"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == MAX_PAGE_SIZE
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert {"cursor", "category"} <= set(parameters)
    assert "next_cursor" in spec["components"]["schemas"]["CallPage"]["properties"]
