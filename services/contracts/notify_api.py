"""The notify service's requests and replies, as the gateway validates and documents them:
notification settings, webhooks and inbox messages. Unknown fields are refused; each error
names its field and the rule."""

from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from services.common.fields import StrictSchema
from services.contracts.notify import EMAIL, KINDS, PERSONAL_CHANNELS, SMS, WEBHOOK_KINDS, parse_clock, url_problem

ADDRESS_OF = {EMAIL: "email", SMS: "phone"}


class Rfc3339(fields.Field):
    """An aware datetime written as RFC 3339 UTC with a `Z` (output only)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clock(value: str) -> None:
    try:
        parse_clock(value)
    except ValueError:
        raise ValidationError("must be a time of day HH:MM (24-hour, Asia/Shanghai)") from None


def _webhook_url(value: str) -> None:
    problem = url_problem(value)
    if problem:
        raise ValidationError(problem)


def _no_repeats(values: list) -> None:
    if len(values) != len(set(values)):
        raise ValidationError("must not name a value twice")


def _channels(**kwargs) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(PERSONAL_CHANNELS)), validate=_no_repeats, **kwargs)


class QuietHoursSchema(StrictSchema):
    start = fields.String(required=True, validate=_clock, metadata={"example": "22:00"})
    end = fields.String(required=True, validate=_clock, metadata={"example": "07:00"})

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if data["start"] == data["end"]:
            raise ValidationError({"end": ["must differ from start"]})


class NotificationSettingsSchema(StrictSchema):
    """PUT /v1/notification-settings: the caller's recipient's addresses and wishes.
    The inbox always receives; email and SMS only where wanted and an address is given."""

    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^1[3-9]\d{9}$", error="must be a mainland mobile number: 11 digits starting 13-19"),
    )
    default_channels = _channels(
        load_default=None,
        metadata={"description": "Channels for kinds not in channels_by_kind; omitted: every channel with an address."},
    )
    channels_by_kind = fields.Dict(
        keys=fields.String(validate=validate.OneOf(KINDS)),
        values=_channels(),
        load_default=dict,
        metadata={"description": "Kind -> channels ([] for inbox only)."},
    )
    quiet_hours = fields.Nested(
        QuietHoursSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "Email and SMS wait until the end of these hours (Asia/Shanghai); may span midnight."},
    )

    @validates_schema
    def _addresses_given(self, data, **kwargs):
        named = {"default_channels": data.get("default_channels") or []}
        named.update(
            {f"channels_by_kind.{kind}": channels for kind, channels in (data.get("channels_by_kind") or {}).items()}
        )
        errors = {}
        for field, channels in named.items():
            missing = [c for c in channels if not data.get(ADDRESS_OF[c])]
            if missing:
                errors[field] = [f"{c} needs the field {ADDRESS_OF[c]}" for c in missing]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _default_channels(self, data, **kwargs):
        if data["default_channels"] is None:
            data["default_channels"] = [c for c in PERSONAL_CHANNELS if data.get(ADDRESS_OF[c])]
        return data


class NotificationSettingsOutSchema(NotificationSettingsSchema):
    recipient = fields.String(required=True, metadata={"description": "Whose settings: the token's scope."})
    updated_at = Rfc3339(allow_none=True, required=True)


class WebhookCreateSchema(StrictSchema):
    url = fields.String(
        required=True,
        validate=_webhook_url,
        metadata={"description": "http(s) URL that receives a POST of each CloudEvent, signed (see docs/webhooks.md)."},
    )
    kinds = fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_KINDS)),
        required=True,
        validate=[validate.Length(min=1), _no_repeats],
        metadata={"description": "Event names wanted."},
    )
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class WebhookSchema(Schema):
    id = fields.String(required=True, attribute="_id")
    url = fields.String(required=True)
    kinds = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True, required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["active", "disabled", "deleted"]),
        metadata={
            "description": "disabled: switched off after repeated failed deliveries (its owner was told); "
            "deleted: only in the answer to DELETE."
        },
    )
    consecutive_failures = fields.Integer(required=True)
    last_error = fields.String(allow_none=True, required=True)
    created_at = Rfc3339(required=True)
    disabled_at = Rfc3339(allow_none=True, required=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(
        required=True, metadata={"description": "The signing secret. Shown only in this answer: keep it."}
    )


class InboxMessageSchema(Schema):
    id = fields.String(required=True, attribute="_id")
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    title = fields.String(required=True)
    body = fields.String(required=True)
    subject = fields.String(
        required=True, metadata={"description": "The record it is about (a call, application, project...)."}
    )
    created_at = Rfc3339(required=True)
    read_at = Rfc3339(allow_none=True, required=True)
