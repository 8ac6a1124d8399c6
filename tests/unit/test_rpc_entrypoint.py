"""A reply the broker refuses (its caller's reply queue died with a broker node) is dropped and the
request acked; it does not raise into nameko, which would kill the whole service (issue 16 item 5)."""

import ast
from pathlib import Path
from types import SimpleNamespace

import amqp.exceptions
import kombu.exceptions
import pytest
from nameko import rpc as nameko_rpc

from services.common import rpc

ROOT = Path(__file__).resolve().parents[2]


class Acks:
    def __init__(self):
        self.acked = []

    def ack_message(self, message):
        self.acked.append(message)


@pytest.mark.parametrize(
    "error",
    [kombu.exceptions.OperationalError("nacked"), amqp.exceptions.MessageNacked(), ConnectionResetError("reset")],
)
def test_an_undeliverable_reply_is_dropped_and_the_request_acked(monkeypatch, error):
    def refuse(self, message, result, exc_info):
        raise error

    monkeypatch.setattr(nameko_rpc.RpcConsumer, "handle_result", refuse)
    consumer = rpc.RpcConsumer()
    consumer.queue_consumer = Acks()
    message = SimpleNamespace(delivery_info={"routing_key": "applications.create_application"})

    assert consumer.handle_result(message, {"status": 201}, None) == ({"status": 201}, None)
    assert consumer.queue_consumer.acked == [message]


def test_other_errors_still_reach_nameko(monkeypatch):
    def broken(self, message, result, exc_info):
        raise TypeError("a bug")

    monkeypatch.setattr(nameko_rpc.RpcConsumer, "handle_result", broken)
    consumer = rpc.RpcConsumer()
    consumer.queue_consumer = Acks()
    with pytest.raises(TypeError):
        consumer.handle_result(SimpleNamespace(delivery_info={}), None, None)


def test_no_service_uses_namekos_own_rpc_entrypoint():
    offenders = []
    for path in (ROOT / "services").rglob("*.py"):
        if "gateway" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "nameko.rpc"
                and any(a.name == "rpc" for a in node.names)
            ):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
