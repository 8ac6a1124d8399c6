"""Operators' view of dead letters: list them with their errors, replay them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kombu import Connection, Queue
from kombu.message import Message

from .messaging import ATTEMPTS, DEFERRED_SINCE, Publisher, dead_queue_name


def _drain(channel: Any, queue: str) -> Iterator[Message]:
    """Every message of `queue`, fetched unacked: what is not acked returns to the queue when the channel closes."""
    source = Queue(queue, channel=channel)
    while True:
        message = source.get(no_ack=False)
        if message is None:
            return
        yield message


def list_dead_letters(amqp_uri: str, queue: str) -> list[dict[str, Any]]:
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        try:
            return [
                {
                    "queue": queue,
                    "message_id": m.properties.get("message_id"),
                    "attempts": m.headers.get(ATTEMPTS),
                    "error": m.headers.get("x-chuyi-error"),
                    "dead_at": m.headers.get("x-chuyi-dead-at"),
                    "body": m.body.decode("utf-8", "replace") if isinstance(m.body, bytes) else m.body,
                }
                for m in _drain(channel, dead_queue_name(queue))
            ]
        finally:
            channel.close()


def replay(amqp_uri: str, queue: str, message_ids: set[str] | None = None) -> int:
    """Move dead letters (all, or those with `message_ids`) back to `queue` with fresh tries.
    Each is acked only after its copy is confirmed, so a failure here loses nothing."""
    publisher = Publisher(amqp_uri)
    replayed = 0
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        try:
            for message in _drain(channel, dead_queue_name(queue)):
                if message_ids is not None and message.properties.get("message_id") not in message_ids:
                    continue
                headers = {
                    k: v
                    for k, v in message.headers.items()
                    if k not in (ATTEMPTS, DEFERRED_SINCE) and not k.startswith("x-death")
                }
                publisher.publish(
                    "",
                    queue,
                    message.body,
                    message_id=message.properties.get("message_id"),
                    headers={**headers, "x-chuyi-replayed": True},
                    content_type=message.content_type,
                )
                message.ack()
                replayed += 1
        finally:
            channel.close()
            publisher.close()
    return replayed
