"""Inbox, notification settings and webhook routes, served by the notify service.

Whose messages, settings and webhooks: the token's scope (an institution's users share
their institution's, a prefecture bureau's its prefecture's, an expert has its own, the
provincial office and finance one each). Another recipient's record answers 404.
"""

from __future__ import annotations

from flask import Blueprint, url_for
from marshmallow import fields

from services.gateway.auth import ANY_ROLE
from services.gateway.routing import Call, operation
from services.gateway.schemas import PageQuerySchema, PageSchema
from services.contracts.notify_api import (
    InboxMessageSchema,
    NotificationSettingsOutSchema,
    NotificationSettingsSchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookSchema,
)

SERVICE = "notify"
WEBHOOK_ROLES = {"institution", "finance", "province"}
bp = Blueprint("notify", __name__)


class InboxQuerySchema(PageQuerySchema):
    unread = fields.Boolean(metadata={"description": "true: only unread messages; false: only read ones."})


class InboxPageSchema(PageSchema):
    items = fields.List(fields.Nested(InboxMessageSchema), required=True)
    unread_count = fields.Integer(required=True, metadata={"description": "Unread messages in the whole inbox."})


class WebhookPageSchema(PageSchema):
    items = fields.List(fields.Nested(WebhookSchema), required=True)


@bp.get("/v1/inbox")
@operation(
    summary="Your messages, newest first",
    tag="notifications",
    roles=ANY_ROLE,
    query=InboxQuerySchema,
    responses={200: InboxPageSchema},
)
def list_inbox(call: Call):
    return call.rpc(SERVICE, "list_inbox", **call.query).response()


@bp.post("/v1/inbox/<notification_id>/read")
@operation(
    summary="Mark one of your messages read",
    description="Marking a read message again changes nothing.",
    tag="notifications",
    roles=ANY_ROLE,
    idempotent=True,
    responses={200: InboxMessageSchema},
    problems=(404,),
)
def mark_read(call: Call, notification_id: str):
    return call.rpc(SERVICE, "mark_read", notification_id=notification_id).response()


@bp.get("/v1/notification-settings")
@operation(
    summary="Your notification settings: addresses, channels per kind, quiet hours",
    tag="notifications",
    roles=ANY_ROLE,
    responses={200: NotificationSettingsOutSchema},
)
def get_notification_settings(call: Call):
    return call.rpc(SERVICE, "get_notification_settings").response()


@bp.put("/v1/notification-settings")
@operation(
    summary="Set your notification settings",
    description="Replaces them whole. The inbox always receives; email and SMS go out only for the kinds that "
    "want them and with an address; quiet hours (Asia/Shanghai) hold email and SMS until they end.",
    tag="notifications",
    roles=ANY_ROLE,
    body=NotificationSettingsSchema,
    responses={200: NotificationSettingsOutSchema},
)
def put_notification_settings(call: Call):
    return call.rpc(SERVICE, "put_notification_settings", settings=call.body).response()


@bp.post("/v1/webhooks")
@operation(
    summary="Subscribe a URL to signed event callbacks",
    description="Each event of the kinds named that concerns you is POSTed as its CloudEvent (structured JSON) "
    'with the header Chuyi-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>"> under the '
    "secret given once in this answer (docs/webhooks.md). Failed deliveries are retried with "
    "exponential backoff; after repeated failures the webhook is disabled and you are told.",
    tag="notifications",
    roles=WEBHOOK_ROLES,
    body=WebhookCreateSchema,
    idempotent=True,
    responses={201: WebhookCreatedSchema},
)
def create_webhook(call: Call):
    reply = call.rpc(SERVICE, "create_webhook", webhook=call.body)
    return reply.response(location=url_for(".get_webhook", webhook_id=reply.created_id()))


@bp.get("/v1/webhooks")
@operation(
    summary="Your webhooks (without their secrets)",
    tag="notifications",
    roles=WEBHOOK_ROLES,
    query=PageQuerySchema,
    responses={200: WebhookPageSchema},
)
def list_webhooks(call: Call):
    return call.rpc(SERVICE, "list_webhooks", **call.query).response()


@bp.get("/v1/webhooks/<webhook_id>")
@operation(
    summary="One of your webhooks (without its secret)",
    tag="notifications",
    roles=WEBHOOK_ROLES,
    responses={200: WebhookSchema},
    problems=(404,),
)
def get_webhook(call: Call, webhook_id: str):
    return call.rpc(SERVICE, "get_webhook", webhook_id=webhook_id).response()


@bp.delete("/v1/webhooks/<webhook_id>")
@operation(
    summary="Delete one of your webhooks",
    description="Its deliveries not yet made are given up.",
    tag="notifications",
    roles=WEBHOOK_ROLES,
    responses={200: WebhookSchema},
    problems=(404,),
)
def delete_webhook(call: Call, webhook_id: str):
    return call.rpc(SERVICE, "delete_webhook", webhook_id=webhook_id).response()
