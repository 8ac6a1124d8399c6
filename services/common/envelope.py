"""The CloudEvents 1.0 envelope (structured JSON mode) every event travels in.

Extensions: `sequence` (per subject, strictly increasing from 1, so a consumer can
order and detect gaps) and `correlationid` (the request that started the chain).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

SPEC_VERSION = "1.0"
TYPE_PREFIX = "cn.chuyi."


class InvalidEvent(ValueError):
    """A message body that is not a valid Chuyi CloudEvent; `errors` names the fields."""

    def __init__(self, errors: dict[str, Any] | list[Any] | str) -> None:
        super().__init__(f"invalid CloudEvent: {errors}")
        self.errors = errors


@dataclass(frozen=True)
class Event:
    id: str
    source: str
    type: str
    subject: str
    time: str
    data: dict[str, Any]
    sequence: int
    correlationid: str
    specversion: str = SPEC_VERSION
    datacontenttype: str = "application/json"

    @property
    def service(self) -> str:
        return self.source.rsplit("/", 1)[-1]

    @property
    def name(self) -> str:
        """The short event name, which is also its routing key: `tranche_released`."""
        return self.type.split(".")[-2]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_type(service: str, name: str, version: int = 1) -> str:
    return f"{TYPE_PREFIX}{service}.{name}.v{version}"


def new_event(
    service: str,
    name: str,
    subject: str,
    data: dict[str, Any],
    *,
    sequence: int,
    correlation_id: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Event:
    at = (time or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return Event(
        id=event_id or str(uuid.uuid4()),
        source=f"/chuyi/{service}",
        type=event_type(service, name),
        subject=subject,
        time=at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        data=data,
        sequence=sequence,
        correlationid=correlation_id or str(uuid.uuid4()),
    )


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    specversion = fields.String(required=True, validate=validate.Equal(SPEC_VERSION))
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    source = fields.String(required=True, validate=validate.Regexp(r"^/chuyi/[a-z_]+$"))
    type = fields.String(required=True, validate=validate.Regexp(r"^cn\.chuyi\.[a-z_]+\.[a-z_]+\.v[0-9]+$"))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=256))
    time = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"))
    datacontenttype = fields.String(required=True, validate=validate.Equal("application/json"))
    data = fields.Dict(required=True)
    sequence = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    correlationid = fields.String(required=True, validate=validate.Length(min=1, max=128))


_schema = EnvelopeSchema()


def parse_event(body: object) -> Event:
    """Parse and validate a message body (bytes, str or an already decoded dict)."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent({"_body": [f"not UTF-8: {exc}"]}) from None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise InvalidEvent({"_body": [f"not JSON: {exc}"]}) from None
    if not isinstance(body, dict):
        raise InvalidEvent({"_body": ["must be a JSON object"]})
    try:
        return Event(**_schema.load(body))
    except ValidationError as exc:
        raise InvalidEvent(exc.messages) from None
