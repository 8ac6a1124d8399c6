"""The events the notify service emits when a delivery settles: names and data schemas.

Subject: the delivery id. The recipient is named by its scope (`institution:<id>`,
`prefecture:<name>`, `expert:<id>`, `province`, `finance`); addresses never travel.
"""

from marshmallow import fields, validate

from services.common.fields import StrictSchema
from services.contracts.notify import KINDS, SENT_CHANNELS


class NotificationSent(StrictSchema):
    delivery_id = fields.String(required=True)
    notification_id = fields.String(required=True)
    recipient = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    channel = fields.String(required=True, validate=validate.OneOf(SENT_CHANNELS))
    source_event_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "the CloudEvent that caused it; null for the platform's own notices"},
    )
    attempts = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class NotificationFailed(NotificationSent):
    """The delivery was given up: a permanent refusal, too long undeliverable, or its webhook switched off."""

    attempts = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    error = fields.String(required=True)


EVENTS = {
    "notification_sent": NotificationSent(),
    "notification_failed": NotificationFailed(),
}
