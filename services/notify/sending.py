"""The senders: one loop per channel claims due deliveries and sends each in a small
pool of green threads, so that a channel that is down (its deliveries failing and
backing off) never holds up another, nor one slow webhook all the others.

Exactly once in effect, at least once in the worst case: a delivery is claimed with a
lease, sent, then marked sent. A sender that dies between the send and the mark leaves
the lease to run out, and the delivery is sent once more: mail clients see the same
Message-ID, webhook receivers the same CloudEvent id and `Chuyi-Delivery`.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable

import eventlet
from eventlet.event import Event as GreenEvent
from eventlet.greenpool import GreenPool
from kombu import Connection
from nameko.extensions import DependencyProvider
from prometheus_client import Counter

from services.common.config import Settings
from services.common.messaging import dead_queue_name
from services.common.providers import MongoStore
from services.common.clock import utcnow
from services.notify.channels import DeliveryFailed, PermanentFailure
from services.notify.channels.email import SmtpMailer
from services.notify.channels.sms import load_provider
from services.notify.channels.webhook import WebhookPoster
from services.notify.config import NotifySettings
from services.contracts.notify import EMAIL, SMS, WEBHOOK
from services.notify.domain.retry import RetryPolicy
from services.notify.domain.webhooks import ACTIVE, should_disable
from services.notify.store import FAILED, SENT, NotifyStore
from services.notify.usecases.deliveries import settle
from services.notify.usecases.webhooks import disable_webhook

log = logging.getLogger(__name__)

DELIVERY_ATTEMPTS = Counter(
    "chuyi_notify_delivery_attempts_total", "Delivery attempts by channel and outcome", ["channel", "outcome"]
)  # outcome: sent, retried, failed


class Deliverer:
    """Sends one delivery and records what came of it."""

    def __init__(self, settings: NotifySettings):
        self.settings = settings
        self.policy = RetryPolicy(settings.retry_base_s, settings.retry_max_s, settings.give_up_after_s)
        mailer, sms, poster = (
            SmtpMailer.from_settings(settings),
            load_provider(settings.sms_provider),
            WebhookPoster(settings.webhook_timeout_s, settings.allow_private_webhooks),
        )
        self.send: dict[str, Callable[[NotifyStore, dict], None]] = {
            EMAIL: lambda store, d: mailer.send(d["address"], d["content"], d["_id"]),
            SMS: lambda store, d: sms.send(d["address"], d["content"]["text"], d["_id"]),
            WEBHOOK: lambda store, d: self._post(poster, store, d),
        }

    def deliver(self, store: NotifyStore, delivery: dict) -> None:
        try:
            self.send[delivery["channel"]](store, delivery)
        except DeliveryFailed as failure:
            self._failed(store, delivery, failure)
        else:
            settle(store, delivery, SENT, utcnow())
            DELIVERY_ATTEMPTS.labels(delivery["channel"], "sent").inc()
            if delivery["channel"] == WEBHOOK:
                store.count_webhook_outcome(delivery["webhook_id"], None)

    @staticmethod
    def _post(poster: WebhookPoster, store: NotifyStore, delivery: dict) -> None:
        webhook = store.webhook(delivery["webhook_id"])
        if webhook is None or webhook["status"] != ACTIVE:
            raise PermanentFailure(f"the webhook is {webhook['status'] if webhook else 'gone'}")
        poster.post(webhook["url"], webhook["secret"], delivery["content"]["event"], delivery["_id"])

    def _failed(self, store: NotifyStore, delivery: dict, failure: DeliveryFailed) -> None:
        error, now = str(failure), utcnow()
        log.warning(
            "delivery failed",
            extra={
                "fields": {
                    "delivery_id": delivery["_id"],
                    "channel": delivery["channel"],
                    "attempt": delivery["attempts"] + 1,
                    "error": error,
                }
            },
        )
        retry_at = (
            None
            if isinstance(failure, PermanentFailure)
            else self.policy.next_attempt(delivery["created_at"], delivery["attempts"] + 1, now)
        )
        if retry_at is None:
            settle(store, delivery, FAILED, now, error)
        else:
            store.retry_later(delivery, error, retry_at)
        DELIVERY_ATTEMPTS.labels(delivery["channel"], "failed" if retry_at is None else "retried").inc()
        if delivery["channel"] == WEBHOOK and not isinstance(failure, PermanentFailure):
            webhook = store.count_webhook_outcome(delivery["webhook_id"], error)
            if webhook and should_disable(webhook["consecutive_failures"], self.settings.webhook_max_failures):
                self.disable(store, webhook, error)

    @staticmethod
    def disable(store: NotifyStore, webhook: dict, error: str) -> None:
        """Switch the webhook off, give up its pending deliveries, and tell its owner."""
        disable_webhook(store, webhook, error, utcnow())
        log.warning("webhook disabled", extra={"fields": {"webhook_id": webhook["_id"], "error": error}})


class ChannelSender:
    """Claims due deliveries of one channel and sends them, `concurrency` at a time."""

    def __init__(
        self,
        channel: str,
        deliverer: Deliverer,
        new_store: Callable[[], NotifyStore],
        settings: NotifySettings,
        holder: str,
    ):
        self.channel, self.deliverer, self.new_store, self.settings = channel, deliverer, new_store, settings
        self.holder = holder
        self.pool = GreenPool(settings.send_concurrency)
        self.stopped = GreenEvent()

    def run(self) -> None:
        store = self.new_store()
        while not self.stopped.ready():
            claimed = None
            try:
                claimed = store.claim(self.channel, self.holder, utcnow(), self.settings.send_lease_s)
            except Exception:  # the database is away: try again after a pause
                log.exception("could not claim a delivery", extra={"fields": {"channel": self.channel}})
            if claimed is None:
                self._pause()
                continue
            self.pool.spawn_n(self._deliver, claimed)  # waits for a free green thread
        self.pool.waitall()

    def _pause(self) -> None:
        with eventlet.Timeout(self.settings.send_poll_s, False):
            self.stopped.wait()

    def _deliver(self, delivery: dict) -> None:
        try:
            self.deliverer.deliver(self.new_store(), delivery)
        except Exception:  # a bug or the database: the lease runs out and it is tried again
            log.exception("delivery crashed", extra={"fields": {"delivery_id": delivery["_id"]}})

    def stop(self) -> None:
        if not self.stopped.ready():
            self.stopped.send(True)


class Outbound(DependencyProvider):
    """Runs the senders while the service runs; to workers it gives the dead-letter probe."""

    def setup(self):
        self.settings = NotifySettings.from_env()
        self.amqp_uri = Settings.for_container(self.container).amqp_uri
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        deliverer = Deliverer(self.settings)
        self.senders = [
            ChannelSender(channel, deliverer, self._new_store, self.settings, holder)
            for channel in (EMAIL, SMS, WEBHOOK)
        ]

    def _new_store(self) -> NotifyStore:
        provider = next(d for d in self.container.dependencies if isinstance(d, MongoStore))
        return provider.get_dependency(None)

    def start(self):
        for sender in self.senders:
            self.container.spawn_managed_thread(sender.run, identifier=f"sender-{sender.channel}")

    def stop(self):
        for sender in self.senders:
            sender.stop()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    def dead_letter_depths(self) -> dict[str, int]:
        """Messages in each watched `<queue>.dead` (a queue not declared yet holds none)."""
        depths = {}
        with Connection(self.amqp_uri, connect_timeout=5) as connection:
            channel = connection.channel()
            for queue in self.settings.dead_letter_queues:
                name = dead_queue_name(queue)
                try:
                    depths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except connection.channel_errors:  # 404: the broker closed the channel
                    depths[name] = 0
                    channel = connection.channel()
        return depths
