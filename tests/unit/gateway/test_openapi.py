from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from flask import Blueprint, Flask

from services.gateway.app import create_app
from services.gateway.openapi import UNDOCUMENTED_METHODS, build_spec, openapi_path
from services.gateway.routes import register_routes
from tests.unit.gateway.fake_rpc import gateway_settings

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def spec(client) -> dict:
    return client.get("/openapi.json").json


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(spec: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_every_registered_route_and_method_is_in_the_spec(app, spec):
    for rule in app.url_map.iter_rules():
        path = openapi_path(rule)
        assert path in spec["paths"], f"{rule.rule} is missing from the spec"
        for method in set(rule.methods) - UNDOCUMENTED_METHODS:
            assert method.lower() in spec["paths"][path], f"{method} {rule.rule} is missing from the spec"


def test_the_spec_is_structurally_sound(spec):
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["title"] and spec["info"]["version"]
    for ref in refs(spec):
        resolve(spec, ref)
    operation_ids = []
    for path, operations in spec["paths"].items():
        assert path.startswith("/")
        templated = set(re.findall(r"{([^}]+)}", path))
        for method, op in operations.items():
            assert method in HTTP_METHODS
            operation_ids.append(op["operationId"])
            parameters = [resolve(spec, p["$ref"]) if "$ref" in p else p for p in op["parameters"]]
            assert {p["name"] for p in parameters if p["in"] == "path"} == templated
            assert all(p["required"] for p in parameters if p["in"] == "path")
            assert op["responses"]
            for status in op["responses"]:
                HTTPStatus(int(status))
            for requirement in op["security"]:
                assert set(requirement) <= set(spec["components"]["securitySchemes"])
    assert len(operation_ids) == len(set(operation_ids))


def test_secured_operations_declare_their_roles_and_problems(spec):
    create = spec["paths"]["/v1/institutions"]["post"]
    assert create["x-roles"] == ["province"]
    assert "province" in create["description"]
    assert create["security"] == [{"bearerAuth": []}]
    for status in ("400", "401", "403", "409", "413", "415", "422", "429", "503", "504"):
        assert status in create["responses"], status
    problem = resolve(spec, create["responses"]["422"]["$ref"])
    assert problem["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "Retry-After" in resolve(spec, create["responses"]["503"]["$ref"])["headers"]
    assert {"$ref": "#/components/parameters/Idempotency-Key"} in create["parameters"]
    assert set(spec["components"]["parameters"]) >= {"limit", "cursor", "Idempotency-Key"}
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "403" not in spec["paths"]["/v1/programmes"]["get"]["responses"]  # any role may


@pytest.mark.parametrize(
    ("path", "downloads"),
    [
        ("/v1/reports/progress", {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}),
        (
            "/v1/calls/{call_id}/notice",
            {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/pdf"},
        ),
    ],
)
def test_an_answer_offered_as_a_download_documents_its_media_types(spec, path, downloads):
    ok = spec["paths"][path]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", *downloads}
    assert "Content-Disposition" in ok["headers"]


def test_the_problem_schema_names_every_member(spec):
    properties = spec["components"]["schemas"]["Problem"]["properties"]
    assert set(properties) == {"type", "title", "status", "detail", "instance", "request_id", "errors"}


def test_the_spec_validates_against_the_openapi_31_schema(spec):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


def test_a_route_without_a_declaration_is_refused(rpc):
    app = create_app(gateway_settings(), rpc)
    stray = Blueprint("stray", __name__)
    stray.add_url_rule("/v1/stray", "stray", lambda: "hi")
    app.register_blueprint(stray)
    with pytest.raises(RuntimeError, match="stray"):
        build_spec(app)

    bare = Flask(__name__)
    bare.add_url_rule("/v1/stray", "stray", lambda: "hi")
    with pytest.raises(RuntimeError, match="stray"):
        register_routes(bare)
