"""The gateway's RPC client against a real broker: a service with no consumer is a 503 at once,
and a request the gateway gave up on expires in the broker instead of running late."""

import threading

import kombu
import pytest
from nameko.rpc import get_rpc_exchange

from services.gateway.rpc import ClusterRpcClient, ServiceTimeout, ServiceUnavailable
from tests.support.servers import wait_until


def request_queue(amqp_uri, service):
    queue = kombu.Queue(f"rpc-{service}", exchange=get_rpc_exchange({}), routing_key=f"{service}.*", durable=True)
    with kombu.Connection(amqp_uri) as connection:
        queue(connection.default_channel).declare()
    return queue


def test_a_request_queue_without_consumer_is_unavailable_without_waiting_the_timeout(amqp_uri):
    request_queue(amqp_uri, "ghost")  # a stopped service leaves its durable queue behind
    client = ClusterRpcClient(amqp_uri, timeout=30)
    try:
        with pytest.raises(ServiceUnavailable, match="no instance"):
            client.call("ghost", "ping")
        with pytest.raises(ServiceUnavailable, match="no instance"):
            client.call("never-deployed", "ping")
    finally:
        client.close()
    with kombu.Connection(amqp_uri) as connection:
        _, waiting, _ = connection.default_channel.queue_declare(queue="rpc-ghost", passive=True)
    assert waiting == 0, "nothing was published for a service nobody consumes"


def test_a_request_carries_the_gateway_timeout_as_its_expiration(amqp_uri):
    queue = request_queue(amqp_uri, "slow")
    seen = []
    consuming = threading.Event()

    def hold_requests():  # a consumer that takes requests and never answers
        with kombu.Connection(amqp_uri) as connection:
            with connection.Consumer(queue, callbacks=[lambda body, message: seen.append(message.properties)]):
                consuming.set()
                while not seen:
                    try:
                        connection.drain_events(timeout=0.2)
                    except TimeoutError:
                        pass

    holder = threading.Thread(target=hold_requests, daemon=True)
    holder.start()
    consuming.wait(10)
    client = ClusterRpcClient(amqp_uri, timeout=0.75)
    try:
        with pytest.raises(ServiceTimeout):
            client.call("slow", "ping")
    finally:
        client.close()
    wait_until(lambda: seen, timeout=10, what="the request at the consumer")
    holder.join(10)
    assert seen[0]["expiration"] == "750"
