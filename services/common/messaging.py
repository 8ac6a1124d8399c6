"""RabbitMQ plumbing: the confirmed publisher, the topology, and the reliable event
handler entrypoint.

Topology (declared by the services themselves):
- `<service>.events`: durable topic exchange per owning service, routing key = event
  name (nameko's convention). Its alternate exchange `chuyi.unrouted` (fanout, with a
  durable queue of the same name) catches an event no queue is bound to yet, so it is
  neither dropped nor stuck: it stays visible there and can be replayed.
- `<consumer>.<source>`: one quorum queue per consuming service and source service,
  bound to every event of the source (`#`), so that a consumer sees each subject's whole
  sequence and can apply events in order. Beside it `<queue>.retry.<ms>ms` (one delay
  each: a per-message TTL in one queue would block behind its head) dead-letter back
  into it, and `<queue>.dead` keeps what failed for good, with the error.

A consumer gathers up to EVENT_BATCH events (for at most EVENT_BATCH_WAIT_MS) and one worker
applies them in one transaction (`BaseStore.handle_batch`; a few if the handlers are slow); at most
EVENT_WORKERS workers apply events at once, the rest of the pool stays for requests and timers; if one
of them fails, the worker applies them again one by one, each in its own transaction, so that
only the failing event takes the way below. A stopping service requeues what it has not begun. A handler that raises is retried after each delay of `retry_delays_ms`, then
dead-lettered; the original is acked only after its copy is confirmed elsewhere. An
event that arrives before its predecessor waits (without using up tries) for at most
`gap_timeout_s`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial, wraps
from collections.abc import Iterable
from typing import Any, Callable

import amqp.exceptions
import eventlet
import kombu.exceptions
from eventlet.event import Event as GreenEvent
from eventlet.semaphore import Semaphore
from kombu import Connection, Exchange, Producer, Queue
from kombu.message import Message
from kombu.serialization import register
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider, Entrypoint, ProviderCollector, SharedExtension, register_entrypoint
from nameko.messaging import QueueConsumer

from .clock import utcnow
from .config import Settings
from .envelope import Event, InvalidEvent, parse_event
from .store import BaseStore, OutOfOrder
from .observability import EVENTS_CONSUMED, EVENTS_FAILED, HANDLER_LATENCY, correlation_id

log = logging.getLogger(__name__)

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
UNROUTED = "chuyi.unrouted"
ATTEMPTS = "x-chuyi-attempts"
DEFERRED_SINCE = "x-chuyi-deferred-since"
QUORUM_DELIVERY_LIMIT = 20  # a backstop for crash loops; handler failures are counted by ATTEMPTS

register(
    "cloudevents",
    lambda obj: json.dumps(obj, ensure_ascii=False),
    json.loads,
    content_type=CLOUDEVENTS_CONTENT_TYPE,
    content_encoding="utf-8",
)


class Unroutable(Exception):
    """The broker returned a mandatory message: no queue and no alternate exchange took it."""


def service_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", type="topic", durable=True, arguments={"alternate-exchange": UNROUTED})


def consumer_queue_name(consumer: str, source: str) -> str:
    return f"{consumer}.{source}"


def retry_queue_name(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}ms"


def dead_queue_name(queue: str) -> str:
    return f"{queue}.dead"


def _quorum(**arguments: Any) -> dict[str, Any]:
    return {"x-queue-type": "quorum", **arguments}


def consumer_queue(consumer: str, source: str) -> Queue:
    name = consumer_queue_name(consumer, source)
    return Queue(
        name,
        exchange=service_exchange(source),
        routing_key="#",
        durable=True,
        queue_arguments=_quorum(
            **{
                "x-delivery-limit": QUORUM_DELIVERY_LIMIT,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": dead_queue_name(name),
            }
        ),
    )


def side_queues(queue: str, delays_ms: Iterable[int]) -> list[Queue]:
    retries = [
        Queue(
            retry_queue_name(queue, ms),
            durable=True,
            queue_arguments=_quorum(
                **{"x-message-ttl": ms, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue}
            ),
        )
        for ms in delays_ms
    ]
    return retries + [Queue(dead_queue_name(queue), durable=True, queue_arguments=_quorum())]


def unrouted_topology() -> list[Exchange | Queue]:
    exchange = Exchange(UNROUTED, type="fanout", durable=True)
    return [exchange, Queue(UNROUTED, exchange=exchange, durable=True, queue_arguments=_quorum())]


class Nacked(RuntimeError):
    """The broker refused a message (a negative confirm): it was not taken. Publish it again."""


class Unconfirmed(ConnectionError):
    """No confirm came in time: the node is taken for lost, and what it had not confirmed for not taken."""


class Publisher:
    """A publisher with confirms and mandatory routing; safe to share between green threads.

    `publish_all` sends its messages back to back and then awaits their confirms: one round
    trip for many. An unroutable message (returned by the broker) is its Unroutable, a refused
    one its Nacked; any other failure (the connection lost, or no confirm for `confirm_timeout`
    seconds) is raised: what was not confirmed counts as not taken, and the caller publishes it
    again (a duplicate at worst, never a loss).

    After any failure, a nack included, the connection is dropped and the next call opens a new
    one on the next broker of a failover list (`amqp://node1/vh;amqp://node2/vh`, kombu's syntax),
    trying each in turn. Never the same channel again: on RabbitMQ 3.10 a channel that first
    publishes to a quorum queue while the queue elects a new leader (its node just died) is not
    told of the new leader, and the queue nacks everything it sends until the dead node is back,
    while a new channel is served at once."""

    # Without a confirm (nor any other frame) for this long, a node is taken for lost: a confirm
    # takes milliseconds, and a quorum queue elects a new leader within a second or two. After each
    # time-out the wait doubles (up to MAX_CONFIRM_TIMEOUT_S), so that a broker slower than that
    # under load is not flooded with copies; a publish that is confirmed resets it.
    CONFIRM_TIMEOUT_S = 5.0
    MAX_CONFIRM_TIMEOUT_S = 30.0
    CLOSE_TIMEOUT_S = 2.0  # a graceful close waits this long for the broker's close-ok

    def __init__(self, amqp_uri: str, connect_timeout: float = 5.0, confirm_timeout: float | None = None) -> None:
        self.amqp_uri = amqp_uri
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout or self.CONFIRM_TIMEOUT_S
        self._wait = self.confirm_timeout
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._next = 0  # which broker of the failover list to try first
        self._current = 0

    def _connect(self) -> Connection:
        """A connection to the first broker of the failover list that answers, from `_next` on."""
        first = Connection(self.amqp_uri, connect_timeout=self.connect_timeout, heartbeat=0)
        brokers = first.alt or [self.amqp_uri]
        error: Exception | None = None
        for attempt in range(len(brokers)):
            index = (self._next + attempt) % len(brokers)
            connection = (
                first if attempt == 0 else Connection(self.amqp_uri, connect_timeout=self.connect_timeout, heartbeat=0)
            )
            if index and connection.alt:
                connection.switch(connection.alt[index])
            try:
                connection.ensure_connection(max_retries=0)
            except Exception as exc:  # refused, or no answer within connect_timeout: the next one
                error = exc
                connection.collect()
                continue
            self._current = index
            return connection
        self._next = (self._next + 1) % len(brokers)
        assert error is not None  # every broker of the list was tried
        raise error

    def _ensure(self) -> Producer:
        if self._producer is None:
            self._connection = self._connect()
            sock = getattr(self._connection._connection, "sock", None)
            if sock is not None:  # no call waits for the broker forever (a declare's answer, a send)
                sock.settimeout(self.MAX_CONFIRM_TIMEOUT_S)
            channel = self._connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(partial(self._on_confirm, False))
            channel.events["basic_nack"].add(partial(self._on_confirm, True))
            channel.events["basic_return"].add(self._on_return)
            self._producer = Producer(channel)
            self._last_tag = 0
            # delivery tag -> (outcomes, index, id)
            self._unconfirmed: dict[int, tuple[list[Exception | None], int, str | None]] = {}
            self._returned: dict[str | None, Unroutable] = {}
        return self._producer

    def _on_return(self, exc: object, exchange: object, routing_key: str, message: Message) -> None:
        # the broker returns an unroutable message just before confirming it
        self._returned[message.properties.get("message_id")] = Unroutable(
            f"{getattr(exchange, 'name', exchange)!r} {routing_key!r}: {exc}"
        )

    def _on_confirm(self, nacked: bool, delivery_tag: int, multiple: bool) -> None:
        for tag in [t for t in self._unconfirmed if t <= delivery_tag] if multiple else [delivery_tag]:
            entry = self._unconfirmed.pop(tag, None)
            if entry is not None:
                outcomes, index, message_id = entry
                outcomes[index] = self._returned.pop(message_id, None) or (
                    Nacked(f"the broker refused message {message_id!r} (nack)") if nacked else None
                )

    def publish_all(
        self, exchange: Exchange | str, messages: list[tuple[str, object, str | None]]
    ) -> list[Exception | None]:
        """Publish each (routing key, body, message id); per message, None once confirmed or
        its Unroutable or nack error."""
        return self._send(
            exchange,
            [{"routing_key": key, "body": body, "message_id": message_id} for key, body, message_id in messages],
        )

    def publish(
        self,
        exchange: Exchange | str,
        routing_key: str,
        body: object,
        *,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
        content_type: str = CLOUDEVENTS_CONTENT_TYPE,
    ) -> None:
        [error] = self._send(
            exchange,
            [
                {
                    "routing_key": routing_key,
                    "body": body,
                    "message_id": message_id,
                    "headers": headers or {},
                    "content_type": content_type,
                }
            ],
        )
        if error is not None:
            raise error

    def _send(self, exchange: Exchange | str, messages: list[dict[str, Any]]) -> list[Exception | None]:
        with self._lock:
            try:
                producer = self._ensure()
                outcomes: list[Exception | None] = [None] * len(messages)
                for index, message in enumerate(messages):
                    body = message.pop("body")
                    if isinstance(body, dict):
                        body = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                    producer.publish(
                        body,
                        exchange=exchange,
                        mandatory=True,
                        delivery_mode=2,
                        content_encoding="utf-8",
                        retry=False,
                        **{"content_type": CLOUDEVENTS_CONTENT_TYPE, "headers": {}, **message},
                    )
                    self._last_tag += 1
                    self._unconfirmed[self._last_tag] = (outcomes, index, message["message_id"])
                self._await_confirms()
            except Exception:
                self._drop()
                raise
            if any(isinstance(outcome, Nacked) for outcome in outcomes):
                # a new channel for the next try: this one may be one a quorum queue nacks until its old leader is back
                self._drop(graceful=True)
            return outcomes

    def _await_confirms(self) -> None:
        """Until every message is confirmed; raises Unconfirmed when none has come for the wait."""
        pending, deadline = len(self._unconfirmed), time.monotonic() + self._wait
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or self._connection is None:
                    raise socket.timeout()
                self._connection.drain_events(timeout=remaining)
            except socket.timeout:
                waited, self._wait = self._wait, min(self._wait * 2, self.MAX_CONFIRM_TIMEOUT_S)
                raise Unconfirmed(
                    f"{len(self._unconfirmed)} of the messages sent not confirmed within {waited:g} s"
                ) from None
            if len(self._unconfirmed) < pending:  # confirms are coming: wait for the rest from now
                pending, deadline = len(self._unconfirmed), time.monotonic() + self._wait
        self._wait = self.confirm_timeout

    def declare(self, *entities: Exchange | Queue) -> None:
        with self._lock:
            try:
                channel = self._ensure().channel
                for entity in entities:
                    entity.bind(channel).declare()
            except Exception:
                self._drop()
                raise

    def _drop(self, graceful: bool = False) -> None:
        """After a failure: this connection goes (without a word unless `graceful`: the broker may not
        answer any more), and the next one is tried on the next broker of the list."""
        if self._connection is not None:
            self._next = (self._current + 1) % (len(self._connection.alt) or 1)
            if graceful:
                self._close()
            else:
                try:
                    self._connection.collect()
                except Exception:  # already broken; nothing more to release
                    pass
        self._connection = self._producer = None

    def _close(self) -> None:
        if self._connection is not None:
            try:
                sock = getattr(self._connection._connection, "sock", None)  # not `.connection`: it would connect
                if sock is not None:
                    sock.settimeout(self.CLOSE_TIMEOUT_S)  # a graceful close waits for close-ok, not forever
                self._connection.release()
            except Exception:  # already broken; nothing more to release
                try:
                    self._connection.collect()
                except Exception:
                    pass
        self._connection = self._producer = None

    def close(self) -> None:
        with self._lock:
            self._close()


#: How long a service keeps declaring its topology on a broker that does not answer (a node
#: restarting, a broker busy for a few seconds) before it gives up and exits, to be restarted.
DECLARE_BUDGET_S = 30.0


def declare_service_exchange(publisher: Publisher, service: str) -> None:
    _declare_patiently(publisher, *unrouted_topology(), service_exchange(service))


def declare_consumer_topology(publisher: Publisher, consumer: str, source: str, delays_ms: Iterable[int]) -> None:
    queue = consumer_queue(consumer, source)
    _declare_patiently(
        publisher, *unrouted_topology(), service_exchange(source), queue, *side_queues(queue.name, delays_ms)
    )


def _declare_patiently(publisher: Publisher, *entities: Exchange | Queue) -> None:
    """Declares, trying again with backoff while the broker cannot be reached within DECLARE_BUDGET_S
    (a service starting once failed when one handshake took more than its 5 s); a refusal (a
    declaration the broker will not take, bad credentials) is raised at once."""
    deadline, delay = time.monotonic() + DECLARE_BUDGET_S, 0.5
    while True:
        try:
            publisher.declare(*entities)
            return
        except (OSError, kombu.exceptions.OperationalError, amqp.exceptions.RecoverableConnectionError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("the broker did not answer a declaration (%r); trying again in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class StoreProvider(DependencyProvider):  # type: ignore[misc]  # nameko is untyped
    """The dependency that gives each worker the service's store (providers.MongoStore). An event
    stream asks it for a store to move a subject's sequence on past an event no handler takes."""


class EventQueueConsumer(QueueConsumer):  # type: ignore[misc]  # nameko is untyped
    """nameko's queue consumer, handing over raw messages: a body that is not JSON must
    reach our dead-letter path instead of failing inside kombu's decoder forever."""

    @cached_property
    def event_workers(self) -> Semaphore:
        """The events' share of the container's workers (nameko hands each message to a thread that
        waits for a free worker, so without a share a backlog of events queues ahead of requests)."""
        return Semaphore(Settings.for_container(self.container).event_worker_limit)

    def spawn_event_worker(
        self,
        entrypoint: EventHandler,
        args: tuple[Any, ...],
        context_data: dict[str, Any],
        handle_result: Callable[[Any, Any, Any], Any],
    ) -> None:
        """A worker within the events' share; raises when the container is stopping."""
        self.event_workers.acquire()

        def released(worker_ctx: Any, result: Any, exc_info: Any) -> Any:
            self.event_workers.release()
            return handle_result(worker_ctx, result, exc_info)

        try:
            self.container.spawn_worker(entrypoint, args, {}, context_data=context_data, handle_result=released)
        except Exception:
            self.event_workers.release()
            raise

    @property
    def prefetch_count(self) -> int:
        # room for every event worker's batch, or a batch could never fill
        settings = Settings.for_container(self.container)
        return settings.event_worker_limit * settings.event_batch

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:  # nameko's kombu consumers
        for provider in self._providers:
            consumer = consumer_cls(queues=[provider.queue], on_message=partial(self.handle_message, provider, None))
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()


NOT_BEGUN = object()  # the outcome of a batch's event the worker had not begun when the service stopped


@dataclass
class Delivery:
    event: Event
    message: Message
    handler: "EventHandler | None"  # None: not ours to act on, but it moves the subject's sequence on


def _apply(service: Any, handler: "EventHandler | None", event: Event) -> Any:
    if handler is None:
        return None
    correlation_id.set(event.correlationid)
    with HANDLER_LATENCY.labels(service.name, handler.method_name).time():
        return handler.effect(service, event)


class EventBatch:
    """Events gathered from one stream, for one worker to apply (the worker's argument)."""

    # A transaction of a batch stops taking events after this much work, well within the
    # server's transaction lifetime limit, however slow the handlers are.
    WORK_S = 1.0

    def __init__(self, consumer: str, deliveries: list[Delivery], stopping: Callable[[], bool]) -> None:
        self.consumer, self.deliveries, self.stopping = consumer, deliveries, stopping

    def apply(self, service: Any) -> list[object]:
        """In as few transactions as WORK_S allows (an event ahead of its predecessor left out, to
        wait); once one fails, the rest each in its own. Per event: its error, None, or NOT_BEGUN
        when the service stopped first."""
        steps = [(d.event, partial(_apply, service, d.handler, d.event)) for d in self.deliveries]
        outcomes: list[BaseException | None] = []
        alone = len(steps) == 1
        while len(outcomes) < len(steps) and not self.stopping():
            rest = steps[len(outcomes) :]
            if alone or len(rest) == 1:
                try:
                    service.store.handle_once(self.consumer, *rest[0])
                    outcomes.append(None)
                except Exception as exc:
                    outcomes.append(exc)
                continue
            try:
                applied = service.store.handle_batch(self.consumer, rest, self.WORK_S)
            except Exception as exc:
                log.warning(
                    "event batch failed; applying its events one by one",
                    extra={"fields": {"queue": self.consumer, "events": len(rest), "error": repr(exc)}},
                )
                alone = True
                continue
            outcomes += [outcome if isinstance(outcome, OutOfOrder) else None for outcome in applied]
        return outcomes + [NOT_BEGUN] * (len(steps) - len(outcomes))


class EventStream(SharedExtension, ProviderCollector):  # type: ignore[misc]  # nameko is untyped
    """Consumes one source service's events for this service and settles each message."""

    queue_consumer = EventQueueConsumer()

    def __init__(self, source: str) -> None:
        self.source = source
        self.queue: Queue | None = None
        self._unregistering: set[EventHandler] = set()
        self._unregistered_from_queue_consumer = GreenEvent()
        self._gathered: list[Delivery] = []
        self._gathering = 0  # which gathering a flush timer belongs to
        self._stopping = False
        super().__init__()

    @property
    def sharing_key(self) -> tuple[type, str]:
        return (type(self), self.source)

    def setup(self) -> None:
        if self.queue is not None:
            return
        self.settings = Settings.for_container(self.container)
        self.consumer = consumer_queue_name(self.container.service_name, self.source)
        self.queue = consumer_queue(self.container.service_name, self.source)
        self.publisher = Publisher(self.settings.amqp_uri)
        declare_consumer_topology(
            self.publisher, self.container.service_name, self.source, self.settings.retry_delays_ms
        )
        self.queue_consumer.register_provider(self)

    def stop(self) -> None:
        if not self._providers_registered:
            self._stop_consuming()

    def unregister_provider(self, provider: EventHandler) -> None:
        self._unregistering.add(provider)
        if not self._providers - self._unregistering and not self._unregistered_from_queue_consumer.ready():
            self._stop_consuming()
        self._unregistered_from_queue_consumer.wait()
        super().unregister_provider(provider)
        if not self._providers:
            self.publisher.close()

    def _stop_consuming(self) -> None:
        self._stopping = True
        self.queue_consumer.unregister_provider(self)
        for delivery in self._take_gathered():  # not begun: another consumer (or this one, restarted) takes them
            self.queue_consumer.requeue_message(delivery.message)
        self._unregistered_from_queue_consumer.send(True)

    def handle_message(self, body: object, message: Message) -> None:
        try:
            event = parse_event(message.body)
        except InvalidEvent as exc:
            self.settle(message, None, exc, dead=True)
            return
        handler = next((p for p in self._providers if event.name in p.event_names), None)
        if self.settings.event_batch > 1:
            self._gather(Delivery(event, message, handler))
            return
        if handler is not None:
            handler.handle(event, message)
            return
        try:  # not ours to act on, but it moves the subject's sequence on
            self.container_store().handle_once(self.consumer, event, lambda: None)
            self.settle(message, event, None)
        except Exception as exc:
            self.settle(message, event, exc)

    def _gather(self, delivery: Delivery) -> None:
        if self._stopping:
            self.queue_consumer.requeue_message(delivery.message)
            return
        self._gathered.append(delivery)
        if len(self._gathered) >= self.settings.event_batch:
            self._flush()
        elif len(self._gathered) == 1:
            self.container.spawn_managed_thread(
                partial(self._flush_after_wait, self._gathering), identifier=f"{self.consumer}.gather"
            )

    def _flush_after_wait(self, gathering: int) -> None:
        eventlet.sleep(self.settings.event_batch_wait_ms / 1000)
        if gathering == self._gathering:  # not flushed meanwhile for being full
            self._flush()

    def _take_gathered(self) -> list[Delivery]:
        batch, self._gathered = self._gathered, []
        self._gathering += 1
        return batch

    def _flush(self) -> None:
        batch = self._take_gathered()
        entrypoint = next(iter(self._providers - self._unregistering), None)
        try:
            if entrypoint is None:
                raise RuntimeError("stopping")
            self.queue_consumer.spawn_event_worker(
                entrypoint,
                (EventBatch(self.consumer, batch, lambda: self._stopping),),
                {"correlation_id": batch[0].event.correlationid},
                partial(self._settle_batch, batch),
            )
        except Exception:  # the container is stopping: leave them for another consumer
            for delivery in batch:
                self.queue_consumer.requeue_message(delivery.message)

    def _settle_batch(self, batch: list[Delivery], worker_ctx: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        outcomes = [exc_info[1]] * len(batch) if exc_info else result
        for delivery, outcome in zip(batch, outcomes):
            if outcome is NOT_BEGUN:
                self.queue_consumer.requeue_message(delivery.message)
            else:
                self.settle(delivery.message, delivery.event, outcome)
        return result, exc_info

    def container_store(self) -> BaseStore:
        provider = next(d for d in self.container.dependencies if isinstance(d, StoreProvider))
        store: BaseStore = provider.get_dependency(None)
        return store

    def settle(self, message: Message, event: Event | None, error: BaseException | None, *, dead: bool = False) -> None:
        """Ack, or move the message to a retry or dead-letter queue and then ack.
        If that move cannot be confirmed, the message is requeued: never lost.
        Data that does not fit its schema will not fit on a retry either: dead at once."""
        name = event.name if event else "invalid"
        dead = dead or isinstance(error, ValidationError)
        try:
            if error is None:
                EVENTS_CONSUMED.labels(self.container.service_name, self.source, name, "handled").inc()
            elif dead:
                self._dead_letter(message, error, name)
            elif isinstance(error, OutOfOrder):
                self._defer(message, error, name)
            else:
                self._retry_or_dead_letter(message, error, name)
        except Exception:
            log.exception("could not settle message; requeued", extra={"fields": {"queue": self.consumer}})
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _republish(self, message: Message, queue: str, headers: dict[str, Any]) -> None:
        self.publisher.publish(
            "",
            queue,
            message.body,
            message_id=message.properties.get("message_id"),
            headers=headers,
            content_type=message.content_type or CLOUDEVENTS_CONTENT_TYPE,
        )

    def _retry_or_dead_letter(self, message: Message, error: BaseException, name: str) -> None:
        attempts = int(message.headers.get(ATTEMPTS, 0)) + 1
        delays = self.settings.retry_delays_ms
        if attempts > len(delays):
            self._dead_letter(message, error, name, attempts=attempts)
            return
        log.warning(
            "event handler failed; retrying",
            extra={"fields": {"queue": self.consumer, "event": name, "attempt": attempts, "error": repr(error)}},
        )
        self._republish(
            message,
            retry_queue_name(self.consumer, delays[attempts - 1]),
            {**message.headers, ATTEMPTS: attempts, "x-chuyi-last-error": repr(error)[:1000]},
        )
        EVENTS_FAILED.labels(self.container.service_name, self.source, name, "retried").inc()

    def _defer(self, message: Message, error: BaseException, name: str) -> None:
        since = message.headers.get(DEFERRED_SINCE) or utcnow().isoformat()
        waited = (utcnow() - datetime.fromisoformat(since)).total_seconds()
        if waited > self.settings.gap_timeout_s:
            self._dead_letter(message, error, name)
            return
        self._republish(
            message,
            retry_queue_name(self.consumer, min(self.settings.retry_delays_ms)),
            {**message.headers, DEFERRED_SINCE: since},
        )
        EVENTS_FAILED.labels(self.container.service_name, self.source, name, "deferred").inc()

    def _dead_letter(self, message: Message, error: BaseException, name: str, attempts: int | None = None) -> None:
        log.error(
            "event dead-lettered", extra={"fields": {"queue": self.consumer, "event": name, "error": repr(error)}}
        )
        self._republish(
            message,
            dead_queue_name(self.consumer),
            {
                **message.headers,
                ATTEMPTS: attempts if attempts is not None else int(message.headers.get(ATTEMPTS, 0)),
                "x-chuyi-error": f"{type(error).__name__}: {error}"[:2000],
                "x-chuyi-traceback": "".join(traceback.format_exception(error))[-4000:],
                "x-chuyi-queue": self.consumer,
                "x-chuyi-dead-at": utcnow().isoformat(),
            },
        )
        EVENTS_FAILED.labels(self.container.service_name, self.source, name, "dead_lettered").inc()


class EventHandler(Entrypoint):  # type: ignore[misc]  # nameko is untyped
    """Entrypoint for events named `event_names` from `source`; see `handles`."""

    def __init__(
        self, source: str, event_names: tuple[str, ...], effect: Callable[[Any, Event], Any], **kwargs: Any
    ) -> None:
        self.source = source
        self.event_names = frozenset(event_names)
        self.effect = effect  # the service's method, unwrapped: what a batch applies
        self.stream = EventStream(source)
        # An event ahead of its predecessor is expected, and waits: a warning, not an error.
        super().__init__(expected_exceptions=(OutOfOrder,), **kwargs)

    def setup(self) -> None:
        self.stream.register_provider(self)

    def stop(self) -> None:
        self.stream.unregister_provider(self)

    def handle(self, event: Event, message: Message) -> None:
        try:
            self.stream.queue_consumer.spawn_event_worker(
                self, (event,), {"correlation_id": event.correlationid}, partial(self._settle, message, event)
            )
        except Exception:  # the container is stopping: leave it for another consumer
            self.stream.queue_consumer.requeue_message(message)

    def _settle(self, message: Message, event: Event, worker_ctx: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        self.stream.settle(message, event, exc_info[1] if exc_info else None)
        return result, exc_info


def handles(source: str, *event_names: str) -> Callable[[Callable[[Any, Event], Any]], Callable[..., Any]]:
    """Declare a service method as the handler of `source`'s events `event_names`.

    The method runs once per event (a redelivery is skipped), in the subject's sequence
    order, in one transaction with the record that it ran: it takes the event and
    writes through `self.store`."""

    def decorate(method: Callable[[Any, Event], Any]) -> Callable[..., Any]:
        @wraps(method)
        def apply_once(self: Any, event: Event | EventBatch) -> Any:
            if isinstance(event, EventBatch):
                return event.apply(self)
            correlation_id.set(event.correlationid)
            with HANDLER_LATENCY.labels(self.name, method.__name__).time():
                return self.store.handle_once(
                    consumer_queue_name(self.name, source), event, lambda: method(self, event)
                )

        register_entrypoint(apply_once, EventHandler(source, event_names, method))
        return apply_once

    return decorate
