"""The services' RPC entrypoint: nameko's, except that a reply the broker cannot take does not
kill the service.

nameko publishes each reply with confirms to the caller's reply queue, and an error there ends the
worker with an exception that kills the whole container (every entrypoint of the process). In a
broker cluster this happens when the node holding a caller's reply queue (a classic, auto-delete
queue bound to the caller's connection) dies: the broker nacks the reply, and every replica of the
service that was answering a request of that caller at the moment would stop (seen in
tests/chaos/test_broker_cluster.py). Nobody can read such a reply any more: the caller's
connection died with the node and it has answered its client already (503) or will (504). So the
reply is dropped with a warning, and the request is acked: its work is done and committed, and
redelivering it would do it a second time.

Use `from services.common.rpc import rpc` in every service: two kinds of RPC entrypoint in one
service would mean two consumers of its request queue, each refusing the other's methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import amqp.exceptions
import kombu.exceptions
from nameko import rpc as nameko_rpc

log = logging.getLogger(__name__)

_UNDELIVERABLE = (
    kombu.exceptions.OperationalError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.ChannelError,
    amqp.exceptions.MessageNacked,
    OSError,
)


class RpcConsumer(nameko_rpc.RpcConsumer):  # type: ignore[misc]  # nameko is untyped
    def handle_result(self, message: Any, result: Any, exc_info: Any) -> Any:
        try:
            return super().handle_result(message, result, exc_info)
        except _UNDELIVERABLE as exc:
            log.warning(
                "the reply to %s could not be delivered (%s: %s); its caller is gone, the reply is dropped",
                message.delivery_info.get("routing_key"),
                type(exc).__name__,
                exc,
            )
            self.queue_consumer.ack_message(message)
            return result, exc_info


class Rpc(nameko_rpc.Rpc):  # type: ignore[misc]  # nameko is untyped
    rpc_consumer = RpcConsumer()


F = TypeVar("F", bound=Callable[..., Any])

#: `@rpc`: nameko registers the method as an RPC entrypoint and returns it unchanged.
rpc: Callable[[F], F] = Rpc.decorator
