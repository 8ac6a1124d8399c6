"""The OpenAPI 3.1 document, built from the routes' @operation declarations and their schemas."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from werkzeug.routing import Rule

from services.gateway.auth import ANY_ROLE
from services.gateway.routing import (
    CSV,
    EXTENSION,
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    UPLOAD_FIELD,
    XLSX,
    Operation,
)
from services.gateway.schemas import PageQuerySchema, ProblemSchema

PROBLEM_MEDIA_TYPE = "application/problem+json"
UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}
_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_RETRY_STATUSES = (429, 503, 504)

DESCRIPTION = """\
The public API of the Chuyi (楚怡) platform for institutions, prefecture bureaus, the provincial
office, experts and finance systems.

- **Auth**: `Authorization: Bearer <JWT>` with the claims `sub`, `role` and the scope id the role
  needs (`institution_id`, `prefecture`, `expert_id`). Each operation lists the roles it admits
  (`x-roles`); another role is answered 403. A record that is not yours is answered 404.
- **Errors**: `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail`,
  `instance`, `request_id`, and for invalid input `errors: {field: [messages]}`.
- **Idempotency**: send `Idempotency-Key` on creating POSTs; a retry with the same key and body
  returns the first response (with `Idempotent-Replayed: true`); the same key with another body
  is a 422.
- **Lists**: `?limit=&cursor=`; the body carries `next_cursor` (null on the last page).
- **Conditional reads**: programmes, calls, projects and the public notice answer with an `ETag`;
  ask again with `If-None-Match: <etag>` and an unchanged answer is `304 Not Modified` without a body.
- **Request id**: every response carries `X-Request-Id` (yours when well-formed, else a new one).
- Text is UTF-8 and Chinese round-trips unchanged; money is integer fen; times are RFC 3339 UTC.
"""

IF_NONE_MATCH = "If-None-Match"

_HEADERS = {
    "X-Request-Id": {"description": "The request's id, also in the logs.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
    "Allow": {"description": "The methods the path accepts.", "schema": {"type": "string"}},
    "Location": {
        "description": "The created resource, when the operation creates one (201); the job to follow, when it "
        "accepts work to be done in the background (202).",
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": 'On a download: `attachment; filename="<name>.<suffix>"`.',
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "The answer's version (a hash of its body): send it back as If-None-Match.",
        "schema": {"type": "string"},
    },
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored response to an earlier request with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def api_spec(app: Flask) -> dict:
    """The document for `app`, built once per app."""
    cache = app.extensions[EXTENSION].spec_cache
    if "spec" not in cache:
        cache["spec"] = build_spec(app)
    return cache["spec"]


def build_spec(app: Flask) -> dict:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Chuyi Platform API",
        version="1.0.0",
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": DESCRIPTION},
    )
    spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "HS256 (shared secret) or RS256 (public key), as the deployment configures.",
        },
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    for name, header in _HEADERS.items():
        spec.components.header(name, header)
    spec.components.parameter(
        IDEMPOTENCY_HEADER,
        "header",
        {
            "description": "A key you choose per creation (a UUID is good): 1 to 255 letters, digits or . _ : ~ -.",
            "required": False,
            "schema": {"type": "string", "maxLength": 255, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:~-]*$"},
        },
    )
    spec.components.parameter(
        IF_NONE_MATCH,
        "header",
        {
            "description": "The ETag of the copy you hold: 304 Not Modified, without a body, while it is current.",
            "required": False,
            "schema": {"type": "string"},
        },
    )
    for parameter in plugin.converter.schema2parameters(PageQuerySchema, location="query"):
        spec.components.parameter(
            parameter["name"], "query", {k: v for k, v in parameter.items() if k not in ("name", "in")}
        )
    for status in sorted(HTTPStatus(s) for s in _PROBLEM_STATUSES):
        spec.components.response(_problem_name(status), _problem_response(status))

    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        op = getattr(app.view_functions[rule.endpoint], "operation", None)
        if op is None:
            raise RuntimeError(f"the route {rule.rule} ({rule.endpoint}) is not declared with @operation")
        methods = sorted(set(rule.methods) - UNDOCUMENTED_METHODS)
        spec.path(
            path=openapi_path(rule),
            operations={method.lower(): _operation(op, rule, method, multiple=len(methods) > 1) for method in methods},
        )
    return spec.to_dict()


def openapi_path(rule: Rule) -> str:
    return _RULE_ARGUMENT.sub(r"{\1}", rule.rule)


_PROBLEM_STATUSES = (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504)


def _problem_name(status: int) -> str:
    return f"Problem{status}"


def _problem_response(status: HTTPStatus) -> dict:
    headers = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    if status in _RETRY_STATUSES:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if status == 405:
        headers["Allow"] = {"$ref": "#/components/headers/Allow"}
    return {
        "description": status.phrase,
        "headers": headers,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _operation(op: Operation, rule: Rule, method: str, *, multiple: bool) -> dict:
    roles = "public (no token)" if op.roles is None else ", ".join(sorted(op.roles))
    document: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_") + (f"_{method.lower()}" if multiple else ""),
        "summary": op.summary,
        "description": "\n\n".join(part for part in (op.description, f"Roles: {roles}.") if part),
        "tags": [op.tag],
        "security": [] if op.roles is None else [{"bearerAuth": []}],
        "parameters": _parameters(op, rule),
        "responses": _responses(op, rule),
    }
    if op.roles is not None:
        document["x-roles"] = sorted(op.roles)
    body = _request_body(op)
    if body:
        document["requestBody"] = body
    return document


def _parameters(op: Operation, rule: Rule) -> list:
    parameters: list[Any] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in sorted(rule.arguments)
    ]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    if op.idempotent:
        parameters.append(IDEMPOTENCY_HEADER)  # apispec turns a component name into its $ref
    if op.conditional:
        parameters.append(IF_NONE_MATCH)
    return parameters


def _request_body(op: Operation) -> dict | None:
    if op.body is not None:
        return {"required": True, "content": {"application/json": {"schema": op.body}}}
    if op.streams:
        return {
            "required": True,
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                }
            },
        }
    if op.upload:
        binary = {"type": "string", "contentMediaType": "application/octet-stream"}
        return {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [UPLOAD_FIELD],
                        "additionalProperties": False,
                        "properties": {UPLOAD_FIELD: {**binary, "description": "A .csv or .xlsx file."}},
                    }
                },
                CSV: {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}},
            },
        }
    return None


def _responses(op: Operation, rule: Rule) -> dict:
    responses: dict[str, Any] = {}
    for status, body in sorted(op.responses.items()):
        headers: dict[str, Any] = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
        if status in (201, 202):
            headers["Location"] = {"$ref": "#/components/headers/Location"}
        if op.idempotent:
            headers[REPLAYED_HEADER] = {"$ref": f"#/components/headers/{REPLAYED_HEADER}"}
        if status in _RETRY_STATUSES:
            headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
        if status == 200 and op.conditional:
            headers["ETag"] = {"$ref": "#/components/headers/ETag"}
        media_type, schema = (body, {}) if isinstance(body, str) else ("application/json", {"schema": body})
        content = {media_type: schema}
        if status == 200 and op.downloads:
            headers["Content-Disposition"] = {"$ref": "#/components/headers/Content-Disposition"}
            content.update(
                {download: {"schema": {"type": "string", "contentMediaType": download}} for download in op.downloads}
            )
        described = {"description": HTTPStatus(status).phrase, "headers": headers}
        responses[str(status)] = described if body is None else {**described, "content": content}
    if op.conditional:
        responses["304"] = {
            "description": "Not Modified: the copy whose ETag was sent is current.",
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        }
    for status in sorted(_problem_statuses(op, rule) - set(op.responses)):
        responses[str(status)] = {"$ref": f"#/components/responses/{_problem_name(status)}"}
    return responses


def _problem_statuses(op: Operation, rule: Rule) -> set[int]:
    statuses = {422, 500} | set(op.problems)  # 422: every operation refuses unknown query parameters
    if op.roles is not None:
        statuses |= {401, 429, 502, 503, 504}
        if op.roles != ANY_ROLE:
            statuses.add(403)
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if op.upload or op.streams:
        statuses |= {413, 415, 422}
    if op.idempotent:
        statuses |= {400, 409, 422}  # 409: a request with the same key still in progress
    if rule.arguments:
        statuses.add(404)
    return statuses


def describe_schema(schema: dict) -> str:
    """A one-line reading of a JSON schema for the docs page: a type, a named schema, constraints."""
    if not schema:
        return "any"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "object")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array":
        text = f"array of {describe_schema(schema.get('items', {}))}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text = f"map of string to {describe_schema(schema['additionalProperties'])}"
    else:
        text = kind + (f" ({schema['format']})" if "format" in schema else "")
    constraints = [
        f"{label} {schema[key]}"
        for key, label in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
            ("pattern", "matching"),
            ("default", "default"),
        )
        if key in schema
    ]
    if "enum" in schema:
        constraints.append("one of " + ", ".join(str(value) for value in schema["enum"]))
    return text + (f"; {'; '.join(constraints)}" if constraints else "")
