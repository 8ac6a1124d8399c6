"""The notify service's nameko entrypoints: it plans notifications from the other
services' events, reminds experts, watches dead letters, and serves the inbox, the
notification settings and the webhooks. The senders run beside (sending.Outbound)."""

from __future__ import annotations

from services.common.rpc import rpc
from nameko.timer import timer

from services.contracts.applications_events import EVENTS as APPLICATION_EVENTS
from services.common.bilingual import Bilingual
from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.replies import Refused, created, idempotent, ok, replying
from services.common.clock import utcnow
from services.contracts.funding_events import EVENTS as FUNDING_EVENTS
from services.notify.channels.webhook import destination_problem
from services.notify.config import NotifySettings
from services.contracts.notify import EVENT_KINDS, SILENT_EVENTS
from services.notify.domain.platform import Origin
from services.notify.domain.recipients import recipient_of
from services.notify.domain.webhooks import DELETED, NoSuchWebhook
from services.contracts.notify_api import (
    InboxMessageSchema,
    NotificationSettingsOutSchema,
    NotificationSettingsSchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookSchema,
)
from services.notify.sending import Outbound
from services.notify.store import NotifyStore
from services.notify.usecases import notices, webhooks
from services.contracts.review_events import EVENTS as REVIEW_EVENTS

SETTINGS = NotifySettings.from_env()  # timer intervals are fixed when the class is made
# Every entrypoint answers by the reply contract, the domain's refusals as problems.
answering = replying()
EMPTY_SETTINGS = {
    "email": None,
    "phone": None,
    "default_channels": [],
    "channels_by_kind": {},
    "quiet_hours": None,
    "updated_at": None,
}


class NotifyService(ChuyiService):
    name = "notify"
    store = MongoStore(NotifyStore)
    outbound = Outbound()

    # --- events -----------------------------------------------------------------------------

    @handles("applications", *EVENT_KINDS["applications"])
    def application_event(self, event):
        self._notify(APPLICATION_EVENTS, event)

    @handles("review", *EVENT_KINDS["review"], *SILENT_EVENTS["review"])
    def review_event(self, event):
        self._notify(REVIEW_EVENTS, event)

    @handles("funding", *EVENT_KINDS["funding"])
    def funding_event(self, event):
        self._notify(FUNDING_EVENTS, event)

    def _notify(self, schemas, event) -> None:
        data = schemas[event.name].load(event.data)
        notices.event_arrived(self.store, event.name, data, Origin(event.id, event.subject, event.to_dict()), utcnow())

    # --- timers -----------------------------------------------------------------------------

    @timer(interval=SETTINGS.reminder_check_s)
    def remind_experts(self):
        notices.remind_experts(self.store, utcnow(), SETTINGS.review_reminder_hours)

    @timer(interval=SETTINGS.dead_letter_check_s)
    def watch_dead_letters(self):
        notices.dead_letters_counted(self.store, self.outbound.dead_letter_depths(), utcnow())

    # --- the inbox --------------------------------------------------------------------------

    @rpc
    @answering
    def list_inbox(self, actor, limit=20, cursor=None, unread=None):
        recipient = recipient_of(actor)
        items, next_cursor = self.store.inbox(recipient, limit, cursor, unread)
        return ok(
            {
                "items": InboxMessageSchema(many=True).dump(items),
                "next_cursor": next_cursor,
                "unread_count": self.store.unread_count(recipient),
            }
        )

    @rpc
    @answering
    @idempotent
    def mark_read(self, actor, notification_id):
        def command():
            message = self.store.mark_read(recipient_of(actor), notification_id, utcnow())
            if message is None:
                raise Refused(
                    404, Bilingual("No such message in your inbox.", "您的收件箱中没有这条消息。"), type="not-found"
                )
            return ok(InboxMessageSchema().dump(message))

        return command

    # --- notification settings --------------------------------------------------------------

    @rpc
    @answering
    def get_notification_settings(self, actor):
        recipient = recipient_of(actor)
        stored = self.store.settings_of(recipient) or EMPTY_SETTINGS
        return ok(NotificationSettingsOutSchema().dump({**stored, "recipient": recipient}))

    @rpc
    @answering
    def put_notification_settings(self, actor, settings):
        recipient = recipient_of(actor)
        saved = self.store.save_settings(recipient, NotificationSettingsSchema().load(settings), utcnow())
        return ok(NotificationSettingsOutSchema().dump({**saved, "recipient": recipient}))

    # --- webhooks ---------------------------------------------------------------------------

    @rpc
    @answering
    @idempotent
    def create_webhook(self, actor, webhook):
        owner = recipient_of(actor)
        data = WebhookCreateSchema().load(webhook)
        problem = destination_problem(data["url"], SETTINGS.allow_private_webhooks)
        if problem:
            raise Refused(422, f"url: the URL {problem}.", errors={"url": [f"the URL {problem}"]})

        return lambda: created(
            WebhookCreatedSchema().dump(webhooks.add_webhook(self.store, owner, data, actor["sub"], utcnow()))
        )

    @rpc
    @answering
    def list_webhooks(self, actor, limit=20, cursor=None):
        owner = recipient_of(actor)
        items, next_cursor = self.store.webhooks_of(owner, limit, cursor)
        return ok({"items": WebhookSchema(many=True).dump(items), "next_cursor": next_cursor})

    @rpc
    @answering
    def get_webhook(self, actor, webhook_id):
        webhook = self.store.webhook(webhook_id)
        if webhook is None or webhook["owner"] != recipient_of(actor) or webhook["status"] == DELETED:
            raise NoSuchWebhook()
        return ok(WebhookSchema().dump(webhook))

    @rpc
    @answering
    def delete_webhook(self, actor, webhook_id):
        return ok(WebhookSchema().dump(webhooks.delete_webhook(self.store, recipient_of(actor), webhook_id, utcnow())))
