"""Errors as `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Mapping

from flask import Response, request

from services.common import replies
from services.gateway.requestid import current_request_id

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:chuyi:problem:"
# The problem type of each status unless the service names a more precise one.
DEFAULT_TYPES = {
    400: "malformed-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-fields",
    429: "rate-limited",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "service-timeout",
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = dict(errors) if errors else None
        self.type = type or DEFAULT_TYPES.get(status, "about:blank")
        self.headers = dict(headers or {})

    def as_dict(self) -> dict:
        document = {
            "type": self.type if self.type == "about:blank" else TYPE_PREFIX + self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": request.path,
            "request_id": current_request_id(),
        }
        if self.errors:
            document["errors"] = self.errors
        return document

    def response(self) -> Response:
        body = json.dumps(self.as_dict(), ensure_ascii=False)
        return Response(body, status=self.status, headers=self.headers, mimetype=MEDIA_TYPE)


field_errors = replies.field_errors
